import { ParleyApiError } from "@parley/sdk";
import { act, renderHook, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { useUploads } from "./useUploads";

const upload = vi.fn();
const get = vi.fn();
vi.mock("../api/client", () => ({
  api: { files: { upload: (...args: unknown[]) => upload(...args), get: (...args: unknown[]) => get(...args) } },
}));

const RECORD = {
  id: "f1",
  filename: "notes.txt",
  file_type: "txt",
  mime_type: "text/plain",
  file_size: 4,
  status: "pending",
  status_reason: null,
  conversation_id: "c1",
  page_count: null,
  chunk_count: 0,
  created_at: "2026-01-01T00:00:00Z",
};

beforeEach(() => {
  upload.mockReset();
  get.mockReset();
});

describe("useUploads", () => {
  it("uploads with progress, then polls until the file is ready", async () => {
    upload.mockImplementation(async (_file: File, options: { onProgress(loaded: number, total: number): void }) => {
      options.onProgress(2, 4);
      return RECORD;
    });
    get.mockResolvedValueOnce({ ...RECORD, status: "processing" }).mockResolvedValueOnce({ ...RECORD, status: "ready", chunk_count: 1 });
    const settled = vi.fn();
    const { result } = renderHook(() => useUploads({ conversationId: "c1" }, settled));
    act(() => result.current.add([new File(["abcd"], "notes.txt")]));
    expect(result.current.uploads[0]?.state).toBe("uploading");
    await waitFor(() => expect(result.current.uploads[0]?.state).toBe("ready"), { timeout: 5000 });
    expect(upload.mock.calls[0]?.[1]).toMatchObject({ conversationId: "c1" });
    expect(settled).toHaveBeenCalledWith(expect.objectContaining({ id: "f1", status: "ready" }));
  });

  it("shows a refused upload with its reason, and a failed file with the server's", async () => {
    upload
      .mockRejectedValueOnce(new ParleyApiError({ status: 413, detail: "Limit is 10 MiB." }))
      .mockResolvedValueOnce({ ...RECORD, id: "f2", status: "failed", status_reason: "The PDF is encrypted." });
    const { result } = renderHook(() => useUploads());
    act(() => result.current.add([new File(["x"], "big.pdf"), new File(["y"], "locked.pdf")]));
    await waitFor(() => expect(result.current.uploads.map((u) => u.state)).toEqual(["rejected", "failed"]));
    expect(result.current.uploads[0]?.error).toBe("The file is too large. Limit is 10 MiB.");
    expect(result.current.uploads[1]?.error).toBe("The PDF is encrypted.");
    act(() => result.current.remove(result.current.uploads[0]!.key));
    expect(result.current.uploads.map((u) => u.name)).toEqual(["locked.pdf"]);
  });
});
