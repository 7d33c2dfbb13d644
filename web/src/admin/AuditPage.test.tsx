import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import AuditPage from "./AuditPage";

const auditEvents = vi.fn();
const auditVerification = vi.fn();
const auditExport = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      auditEvents: (...args: unknown[]) => auditEvents(...args),
      auditVerification: (...args: unknown[]) => auditVerification(...args),
      auditExport: (...args: unknown[]) => auditExport(...args),
    },
  },
}));

const event = (seq: number, action: string, extra: Record<string, unknown> = {}) => ({
  id: `00000000-0000-0000-0000-00000000000${seq}`,
  seq,
  action,
  actor_id: "11111111-1111-1111-1111-111111111111",
  target_type: "user",
  target_id: "t-1",
  ip: "127.0.0.1",
  details: { reason: "test" },
  created_at: "2026-12-07T10:00:00Z",
  prev_hash: "0".repeat(64),
  hash: "a".repeat(64),
  ...extra,
});
const page = (items: ReturnType<typeof event>[], total = items.length) => ({ items, total, page: 1, page_size: 50 });
const verified = {
  status: "verified",
  summary: "audit chain verified",
  rows: 12,
  head_seq: 12,
  checkpoints: 2,
  verified_checkpoint_seq: 10,
  verified_checkpoint_at: "2026-12-07T09:00:00Z",
  problem: null,
};

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/audit"]}>
      <AuditPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  auditEvents.mockReset();
  auditVerification.mockReset();
  auditExport.mockReset();
});

describe("AuditPage", () => {
  it("lists the events and says up to which checkpoint the chain verifies", async () => {
    auditEvents.mockResolvedValue(page([event(2, "api_key.create"), event(1, "auth.login")]));
    auditVerification.mockResolvedValue(verified);
    renderPage();
    const table = await screen.findByRole("table", { name: "Audit events" });
    expect(within(table).getByRole("rowheader", { name: "api_key.create" })).toBeInTheDocument();
    expect(within(table).getAllByRole("row")).toHaveLength(3);
    expect(await screen.findByRole("status")).toHaveTextContent("Verified: 12 events, up to checkpoint #10 signed");
    expect(screen.getByText("2 events")).toBeInTheDocument();
  });

  it("names the first bad row when the chain is broken, and verifies again on demand", async () => {
    auditEvents.mockResolvedValue(page([]));
    auditVerification.mockResolvedValueOnce({
      ...verified,
      status: "broken",
      rows: 6,
      verified_checkpoint_seq: null,
      problem: { kind: "edited", seq: 7, event_id: "e-7", message: "row #7 was edited: its content no longer matches its hash" },
    });
    renderPage();
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Broken at row #7");
    expect(alert).toHaveTextContent("row #7 was edited");
    expect(screen.getByText("No events match.")).toBeInTheDocument();

    auditVerification.mockResolvedValueOnce(verified);
    await userEvent.click(screen.getByRole("button", { name: "Verify again" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Verified: 12 events");
    expect(auditVerification).toHaveBeenCalledTimes(2);
  });

  it("filters by action, actor and time, and exports with the same filters", async () => {
    auditEvents.mockResolvedValue(page([event(1, "auth.login_failed")]));
    auditVerification.mockResolvedValue(verified);
    auditExport.mockResolvedValue({ blob: new Blob(["{}\n"]), filename: "parley-audit.jsonl", contentType: "application/x-ndjson" });
    const createObjectURL = vi.fn(() => "blob:audit");
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    renderPage();
    await screen.findByRole("table", { name: "Audit events" });

    const filters = screen.getByRole("form", { name: "Filter the audit trail" });
    await userEvent.type(within(filters).getByLabelText("Action"), "auth.login_failed");
    await userEvent.type(within(filters).getByLabelText("Actor"), "11111111-1111-1111-1111-111111111111");
    await userEvent.type(within(filters).getByLabelText("From"), "2026-12-01T08:30");
    await userEvent.click(within(filters).getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(auditEvents).toHaveBeenCalledTimes(2));
    const query = auditEvents.mock.calls.at(-1)?.[0];
    expect(query).toMatchObject({
      action: "auth.login_failed",
      actor_id: "11111111-1111-1111-1111-111111111111",
      since: new Date("2026-12-01T08:30").toISOString(),
      page: 1,
    });
    expect(query.until).toBeUndefined();

    await userEvent.click(screen.getByRole("button", { name: "Export (JSON Lines)" }));
    await waitFor(() => expect(auditExport).toHaveBeenCalled());
    expect(auditExport.mock.calls[0]?.[0]).toMatchObject({ action: "auth.login_failed" });
    expect(createObjectURL).toHaveBeenCalled();
  });

  it("shows an event's details with its chain links", async () => {
    auditEvents.mockResolvedValue(page([event(3, "file.access_by_other", { details: { owner_id: "o-1" } })]));
    auditVerification.mockResolvedValue(verified);
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Details of file.access_by_other #3" }));
    const details = screen.getByRole("region", { name: "Event file.access_by_other" });
    expect(within(details).getByText("a".repeat(64))).toBeInTheDocument();
    expect(within(details).getByLabelText("Data")).toHaveTextContent('"owner_id": "o-1"');
    await userEvent.click(within(details).getByRole("button", { name: "Close" }));
    expect(screen.queryByRole("region", { name: "Event file.access_by_other" })).not.toBeInTheDocument();
  });

  it("pages through many events", async () => {
    auditEvents.mockResolvedValue(page([event(1, "auth.login")], 120));
    auditVerification.mockResolvedValue(verified);
    renderPage();
    await screen.findByText("Page 1 of 3");
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(auditEvents.mock.calls.at(-1)?.[0]).toMatchObject({ page: 2, page_size: 50 }));
  });
});
