import type { FileRecord } from "@parley/sdk";
import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { formatDate } from "../format";
import { PageHeader } from "../layout/PageHeader";
import { formatBytes } from "./format";
import { UploadButton, UploadList } from "./PageUploads";
import { isSettled, pollFile } from "./pollFile";
import { StatusBadge } from "./StatusBadge";
import { type UploadState, useUploads } from "./useUploads";
import { openFile } from "./openFile";

const PAGE_SIZE = 50;

/** My files: upload, see how far each one is, download, delete. */
export default function FilesPage() {
  const { t } = useTranslation();
  const [files, setFiles] = useState<FileRecord[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<FileRecord | null>(null);
  const [downloading, setDownloading] = useState<string | null>(null);

  const upsert = useCallback((file: FileRecord) => {
    setFiles((current) => {
      const list = current ?? [];
      return list.some((item) => item.id === file.id) ? list.map((item) => (item.id === file.id ? file : item)) : [file, ...list];
    });
  }, []);
  const uploads = useUploads({}, upsert);
  const { remove: forgetUpload } = uploads;

  // A finished upload joins the list; its chip goes away.
  useEffect(() => {
    for (const upload of uploads.uploads) {
      if (upload.file && isSettled(upload.file)) {
        upsert(upload.file);
        forgetUpload(upload.key);
      }
    }
  }, [uploads.uploads, upsert, forgetUpload]);

  useEffect(() => {
    const controller = new AbortController();
    api.files.list({ limit: PAGE_SIZE }, { signal: controller.signal }).then(
      (page) => {
        setFiles(page.items);
        setCursor(page.next_cursor ?? null);
      },
      (caught: unknown) => !controller.signal.aborted && setError(describeError(caught, t)),
    );
    return () => controller.abort();
  }, [t]);

  // Files still being read (uploaded elsewhere, or before a reload): watch them until they are done. Re-armed
  // when the set of unfinished files changes, not on every status change.
  const unfinished = (files ?? []).filter((file) => !isSettled(file)).map((file) => file.id).join(",");
  useEffect(() => {
    if (!unfinished) return undefined;
    const controller = new AbortController();
    for (const id of unfinished.split(",")) void pollFile(id, upsert, controller.signal);
    return () => controller.abort();
  }, [unfinished, upsert]);

  async function loadMore() {
    if (!cursor) return;
    try {
      const page = await api.files.list({ limit: PAGE_SIZE, cursor });
      setFiles((current) => [...(current ?? []), ...page.items.filter((item) => !(current ?? []).some((c) => c.id === item.id))]);
      setCursor(page.next_cursor ?? null);
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function remove(file: FileRecord) {
    setDeleting(null);
    setError(null);
    try {
      await api.files.delete(file.id);
      setFiles((current) => (current ?? []).filter((item) => item.id !== file.id));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function download(file: FileRecord) {
    setDownloading(file.id);
    setError(null);
    try {
      await openFile(file.id, file.filename);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setDownloading(null);
    }
  }

  return (
    <div className="page-content">
      <PageHeader title={t("files.title")}>
        <UploadButton label={t("files.upload")} primary onFiles={uploads.add} />
      </PageHeader>
      <p className="muted">{t("files.hint")}</p>
      <UploadList label={t("files.upload")} uploads={uploads.uploads} onRemove={uploads.remove} />
      {error && <Notice kind="error">{error}</Notice>}
      {files === null ? (
        error ? null : (
          <p className="muted" role="status">
            {t("app.loading")}
          </p>
        )
      ) : files.length === 0 ? (
        <p className="muted">{t("files.empty")}</p>
      ) : (
        <FileTable<FileRecord>
          files={files}
          downloading={downloading}
          onDownload={(file) => void download(file)}
          onDelete={setDeleting}
        />
      )}
      {cursor && (
        <div className="pager">
          <button type="button" className="button" onClick={() => void loadMore()}>
            {t("files.loadMore")}
          </button>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title={t("files.deleteTitle")}
          confirmLabel={t("files.delete")}
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => void remove(deleting)}
        >
          <p>{t("files.deleteBody", { name: deleting.filename })}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

/** What the table shows of a file: my own files (`UploadedFile`) and a knowledge base's (`KnowledgeBaseFile`). */
export interface TableFile {
  id: string;
  filename: string;
  file_type: string;
  file_size: number;
  status: string;
  status_reason?: string | null;
  created_at?: string;
  added_at?: string;
}

interface TableProps<F extends TableFile> {
  files: F[];
  downloading?: string | null;
  onDownload(file: F): void;
  onDelete?(file: F): void;
  /** Replaces the delete action (a knowledge base removes a file from itself instead). */
  deleteLabel?: (file: F) => string;
  deleteText?: string;
}

const STATES = new Set<string>(["pending", "processing", "ready", "failed"]);

/** Files as a table: name (with why it failed), type, size, status, date, and actions. */
export function FileTable<F extends TableFile>({ files, downloading = null, onDownload, onDelete, deleteLabel, deleteText }: TableProps<F>) {
  const { t } = useTranslation();
  return (
    <div className="table-wrap">
      <table className="data-table files-table">
        <thead>
          <tr>
            <th scope="col">{t("files.name")}</th>
            <th scope="col" className="col-type">
              {t("files.type")}
            </th>
            <th scope="col" className="col-size">
              {t("files.size")}
            </th>
            <th scope="col">{t("files.status")}</th>
            <th scope="col" className="col-date">
              {t("files.date")}
            </th>
            <th scope="col">
              <span className="visually-hidden">{t("files.actions")}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {files.map((file) => (
            <tr key={file.id} data-file-id={file.id}>
              <td className="file-name-cell">
                <span className="file-name">{file.filename}</span>
                {file.status_reason && (file.status === "failed" || file.status === "ready") && (
                  // Failed: why. Ready: what was left out (pages too complex, text past the reading limits).
                  <span className={file.status === "failed" ? "file-reason" : "file-reason file-note"}>{file.status_reason}</span>
                )}
              </td>
              <td className="col-type">
                <code>{file.file_type}</code>
              </td>
              <td className="col-size">{formatBytes(file.file_size)}</td>
              <td>
                <StatusBadge state={(STATES.has(file.status) ? file.status : "pending") as UploadState} />
              </td>
              <td className="col-date">{formatDate(file.created_at ?? file.added_at)}</td>
              <td className="row-actions">
                <button
                  type="button"
                  className="icon-button"
                  aria-label={t("files.downloadLabel", { name: file.filename })}
                  title={t("files.download")}
                  disabled={downloading === file.id}
                  onClick={() => onDownload(file)}
                >
                  <Icon name="download" size={16} />
                </button>
                {onDelete && (
                  <button
                    type="button"
                    className="icon-button danger"
                    aria-label={deleteLabel ? deleteLabel(file) : t("files.deleteLabel", { name: file.filename })}
                    title={deleteText ?? t("files.delete")}
                    onClick={() => onDelete(file)}
                  >
                    <Icon name="trash" size={16} />
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
