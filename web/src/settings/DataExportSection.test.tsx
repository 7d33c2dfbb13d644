import { ParleyApiError } from "@parley/sdk";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { DataExportSection } from "./DataExportSection";

const exportsList = vi.fn();
const startExport = vi.fn();
const exportOf = vi.fn();
const downloadExport = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    users: {
      exports: (...args: unknown[]) => exportsList(...args),
      startExport: (...args: unknown[]) => startExport(...args),
      export: (...args: unknown[]) => exportOf(...args),
      downloadExport: (...args: unknown[]) => downloadExport(...args),
    },
  },
}));

const base = { id: "e1", created_at: "2026-12-07T10:00:00Z", ready_at: null, expires_at: null, size_bytes: null, error: null, download_url: null };

beforeEach(() => {
  vi.clearAllMocks();
  exportsList.mockResolvedValue([]);
});

describe("DataExportSection", () => {
  it("starts an export, follows it until ready and downloads the zip", async () => {
    startExport.mockResolvedValue({ ...base, status: "queued" });
    // The export stays "running" until the test has seen it so (a loaded machine polls slower than 5 ms).
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    exportOf
      .mockResolvedValueOnce({ ...base, status: "running" })
      .mockImplementationOnce(async () => {
        await finished;
        return { ...base, status: "ready", expires_at: "2026-12-08T10:00:00Z", download_url: "/x" };
      });
    downloadExport.mockResolvedValue({ blob: new Blob(["zip"]), filename: "parley-export-2026-12-07.zip", contentType: "application/zip" });
    const createObjectURL = vi.fn(() => "blob:zip");
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    render(<DataExportSection pollMs={5} />);

    const start = screen.getByRole("button", { name: "Export my data" });
    await userEvent.click(start);
    expect(startExport).toHaveBeenCalledTimes(1);
    expect(await screen.findByText("Your export is being prepared…")).toBeInTheDocument();
    finish();

    const download = await screen.findByRole("button", { name: "Download export" });
    expect(screen.getByRole("status")).toHaveTextContent("Your export is ready until");
    expect(exportOf).toHaveBeenCalledWith("e1");
    await userEvent.click(download);
    await waitFor(() => expect(downloadExport).toHaveBeenCalledWith("e1"));
    expect(createObjectURL).toHaveBeenCalled();
    expect(start).toBeEnabled();
  });

  it("offers no second export while one is being prepared", async () => {
    exportsList.mockResolvedValue([{ ...base, status: "running" }]);
    exportOf.mockReturnValue(new Promise(() => undefined));
    render(<DataExportSection pollMs={5} />);
    expect(await screen.findByText("Your export is being prepared…")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Export my data" })).toBeDisabled();
  });

  it("shows the latest export on arrival, and a refusal's message", async () => {
    exportsList.mockResolvedValue([{ ...base, status: "expired" }]);
    startExport.mockRejectedValue(new ParleyApiError({ type: "about:blank", title: "Too Many Requests", status: 429, detail: "at most 3 exports per 24 hours" }));
    render(<DataExportSection pollMs={5} />);
    expect(await screen.findByText("Your last export has expired.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Download export" })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Export my data" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("at most 3 exports per 24 hours");
  });
});
