/**
 * Files being uploaded and then read by the server: each upload goes out with its progress, then the file is
 * polled until it is ready or failed. Used by the chat composer (attachments) and the Files and knowledge base
 * pages (uploads). Unmounting cancels the uploads and the polling.
 */
import type { FileRecord } from "@parley/sdk";
import { isAbort } from "@parley/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { isSettled, pollFile } from "./pollFile";
import { describeUploadError } from "./uploadError";

export type UploadState = "uploading" | "pending" | "processing" | "ready" | "failed" | "rejected";

export interface Upload {
  /** Local key (the file has no id until the upload is answered). */
  key: string;
  name: string;
  size: number;
  state: UploadState;
  /** 0–100 while uploading. */
  percent: number;
  file?: FileRecord;
  /** Why it failed (the server's `status_reason`) or was refused (the upload's problem). */
  error?: string;
}

export interface UploadTarget {
  conversationId?: string | null;
  knowledgeBaseId?: string | null;
}

let keys = 0;

export function useUploads(target: UploadTarget = {}, onSettled?: (file: FileRecord) => void) {
  const { t } = useTranslation();
  const [uploads, setUploads] = useState<Upload[]>([]);
  const controllers = useRef(new Map<string, AbortController>());
  const targetRef = useRef(target);
  targetRef.current = target;
  const settledRef = useRef(onSettled);
  settledRef.current = onSettled;

  const patch = useCallback((key: string, change: Partial<Upload>) => {
    setUploads((current) => current.map((upload) => (upload.key === key ? { ...upload, ...change } : upload)));
  }, []);

  const fromRecord = (file: FileRecord): Partial<Upload> => ({
    file,
    state: file.status,
    error: file.status === "failed" ? file.status_reason || undefined : undefined,
  });

  const run = useCallback(
    async (key: string, blob: File, controller: AbortController) => {
      const { signal } = controller;
      try {
        let lastPercent = -1;
        const file = await api.files.upload(blob, {
          conversationId: targetRef.current.conversationId,
          knowledgeBaseId: targetRef.current.knowledgeBaseId,
          signal,
          onProgress: (loaded, total) => {
            const percent = total ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
            if (percent !== lastPercent) {
              lastPercent = percent;
              patch(key, { percent });
            }
          },
        });
        patch(key, { ...fromRecord(file), percent: 100 });
        if (isSettled(file)) {
          settledRef.current?.(file);
          return;
        }
        const settled = await pollFile(file.id, (update) => patch(key, fromRecord(update)), signal);
        if (settled) settledRef.current?.(settled);
      } catch (error) {
        if (isAbort(error) || signal.aborted) return;
        patch(key, { state: "rejected", error: describeUploadError(error, t) });
      } finally {
        controllers.current.delete(key);
      }
    },
    [patch, t],
  );

  const add = useCallback(
    (files: Iterable<File>) => {
      const added: Upload[] = [];
      for (const blob of files) {
        const key = `upload-${++keys}`;
        const controller = new AbortController();
        controllers.current.set(key, controller);
        added.push({ key, name: blob.name || "upload", size: blob.size, state: "uploading", percent: 0 });
        void run(key, blob, controller);
      }
      if (added.length) setUploads((current) => [...current, ...added]);
    },
    [run],
  );

  const remove = useCallback((key: string) => {
    controllers.current.get(key)?.abort();
    controllers.current.delete(key);
    setUploads((current) => current.filter((upload) => upload.key !== key));
  }, []);

  /** Forgets them all (after sending): the server goes on reading the files; only the watching stops. */
  const clear = useCallback(() => {
    controllers.current.forEach((controller) => controller.abort());
    controllers.current.clear();
    setUploads([]);
  }, []);

  useEffect(() => {
    const running = controllers.current;
    return () => {
      running.forEach((controller) => controller.abort());
      running.clear();
    };
  }, []);

  return { uploads, add, remove, clear };
}
