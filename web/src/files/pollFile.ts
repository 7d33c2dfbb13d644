import { type FileRecord, ParleyApiError, isAbort } from "@parley/sdk";
import { api } from "../api/client";

export const isSettled = (file: Pick<FileRecord, "status">): boolean => file.status === "ready" || file.status === "failed";

/**
 * Asks for the file until it is ready or failed (reading and indexing run in the background), every second at
 * first and less often as it takes longer. Each answer goes to `onUpdate`; a network blip is retried.
 */
export async function pollFile(id: string, onUpdate: (file: FileRecord) => void, signal: AbortSignal): Promise<FileRecord | null> {
  let delay = 800;
  for (;;) {
    await sleep(delay, signal);
    if (signal.aborted) return null;
    try {
      const file = await api.files.get(id, { signal });
      onUpdate(file);
      if (isSettled(file)) return file;
    } catch (error) {
      if (isAbort(error) || signal.aborted) return null;
      // deleted meanwhile, or not ours: nothing more to learn
      if (error instanceof ParleyApiError && (error.status === 404 || error.status === 403)) return null;
    }
    delay = Math.min(delay * 1.5, 5000);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
