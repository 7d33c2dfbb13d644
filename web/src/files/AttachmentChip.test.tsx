import { ParleyApiError } from "@parley/sdk";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { TFunction } from "i18next";
import { describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { AttachmentChip } from "./AttachmentChip";
import { describeUploadError } from "./uploadError";
import type { Upload } from "./useUploads";

const base: Upload = { key: "k1", name: "report.pdf", size: 2048, state: "uploading", percent: 0 };

function chip(upload: Partial<Upload>, onRemove = vi.fn()) {
  render(
    <ul>
      <AttachmentChip upload={{ ...base, ...upload }} onRemove={onRemove} />
    </ul>,
  );
  return onRemove;
}

describe("AttachmentChip", () => {
  it("shows upload progress as a percentage and a progress bar", () => {
    chip({ state: "uploading", percent: 42 });
    expect(screen.getByText("Uploading 42%")).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Upload of report.pdf" })).toHaveAttribute("value", "42");
    expect(screen.getByText("2 KB")).toBeInTheDocument();
  });

  it.each([
    ["pending", "Waiting"],
    ["processing", "Processing"],
    ["ready", "Ready"],
  ] as const)("shows the %s state", (state, label) => {
    chip({ state, percent: 100 });
    expect(screen.getByText(label)).toBeInTheDocument();
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByRole("listitem")).toHaveAttribute("data-state", state);
  });

  it("shows why a file failed", () => {
    chip({ state: "failed", error: "The PDF is encrypted." });
    expect(screen.getByText("Failed")).toBeInTheDocument();
    expect(screen.getByText("The PDF is encrypted.")).toBeInTheDocument();
  });

  it("can be removed with its labelled button", async () => {
    const onRemove = chip({ state: "ready" });
    await userEvent.click(screen.getByRole("button", { name: "Remove report.pdf" }));
    expect(onRemove).toHaveBeenCalledWith("k1");
  });
});

describe("describeUploadError", () => {
  const t = i18n.t.bind(i18n) as TFunction;
  const problem = (status: number, detail?: string) => new ParleyApiError({ status, title: "Error", detail });

  it("says a file is too large, with the server's detail", () => {
    expect(describeUploadError(problem(413, "report.pdf is 12 MiB; your plan allows 10 MiB."), t)).toBe(
      "The file is too large. report.pdf is 12 MiB; your plan allows 10 MiB.",
    );
  });

  it("says a type is unsupported for 415 and 422", () => {
    expect(describeUploadError(problem(415, "Executables are not accepted."), t)).toBe(
      "This type of file is not supported. Executables are not accepted.",
    );
    expect(describeUploadError(problem(422), t)).toBe("This type of file is not supported.");
  });

  it("passes other problems through, and network failures in words", () => {
    expect(describeUploadError(problem(507, "Storage is full"), t)).toBe("Storage is full");
    expect(describeUploadError(new TypeError("Failed to fetch"), t)).toMatch(/cannot be reached/);
  });
});
