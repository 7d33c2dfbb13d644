import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import FilesPage from "./FilesPage";

const list = vi.fn();
const remove = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    files: {
      list: (...args: unknown[]) => list(...args),
      delete: (...args: unknown[]) => remove(...args),
      get: vi.fn(),
      upload: vi.fn(),
      content: vi.fn(),
    },
  },
}));

const file = (id: string, filename: string, status: string, reason: string | null = null) => ({
  id,
  filename,
  file_type: "pdf",
  mime_type: "application/pdf",
  file_size: 1536,
  sha256: null,
  status,
  status_reason: reason,
  conversation_id: null,
  page_count: 2,
  chunk_count: 3,
  created_at: "2026-01-05T10:00:00Z",
});

beforeEach(() => {
  list.mockReset();
  remove.mockReset().mockResolvedValue(undefined);
});

describe("FilesPage", () => {
  it("lists files with their status, size and why one failed, and pages on", async () => {
    list
      .mockResolvedValueOnce({ items: [file("f1", "report.pdf", "ready"), file("f2", "scan.pdf", "failed", "The PDF has no text (scanned?).")], next_cursor: "c2" })
      .mockResolvedValueOnce({ items: [file("f3", "older.pdf", "ready")], next_cursor: null });
    render(<FilesPage />);
    const report = (await screen.findByText("report.pdf")).closest("tr")!;
    expect(within(report).getByText("Ready")).toBeInTheDocument();
    expect(within(report).getByText("1.5 KB")).toBeInTheDocument();
    const scan = screen.getByText("scan.pdf").closest("tr")!;
    expect(within(scan).getByText("Failed")).toBeInTheDocument();
    expect(within(scan).getByText("The PDF has no text (scanned?).")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    expect(await screen.findByText("older.pdf")).toBeInTheDocument();
    expect(list.mock.calls[1]?.[0]).toMatchObject({ cursor: "c2" });
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("says what was left out of a file that is ready, but nothing for one read whole", async () => {
    list.mockResolvedValueOnce({
      items: [file("f1", "manual.pdf", "ready", "pages 3, 7 were left out: they are too complex to read"), file("f2", "memo.pdf", "ready")],
      next_cursor: null,
    });
    render(<FilesPage />);
    const manual = (await screen.findByText("manual.pdf")).closest("tr")!;
    expect(within(manual).getByText("Ready")).toBeInTheDocument();
    expect(within(manual).getByText("pages 3, 7 were left out: they are too complex to read")).toBeInTheDocument();
    const memo = screen.getByText("memo.pdf").closest("tr")!;
    expect(memo.querySelector(".file-reason")).toBeNull();
  });

  it("deletes a file only after confirming", async () => {
    list.mockResolvedValueOnce({ items: [file("f1", "report.pdf", "ready")], next_cursor: null });
    render(<FilesPage />);
    await userEvent.click(await screen.findByRole("button", { name: "Delete report.pdf" }));
    const dialog = screen.getByRole("alertdialog", { name: "Delete file?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(remove).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Delete report.pdf" }));
    await userEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(remove).toHaveBeenCalledWith("f1");
    expect(screen.queryByText("report.pdf")).toBeNull();
    expect(screen.getByText(/No files yet/)).toBeInTheDocument();
  });
});
