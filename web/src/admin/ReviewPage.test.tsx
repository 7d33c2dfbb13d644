import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import ReviewPage from "./ReviewPage";

const reports = vi.fn();
const report = vi.fn();
const actOnReport = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      reports: (...args: unknown[]) => reports(...args),
      report: (...args: unknown[]) => report(...args),
      actOnReport: (...args: unknown[]) => actOnReport(...args),
    },
  },
}));

const summary = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  status: "open",
  reason: "harmful",
  model: "echo",
  user_id: "u-1",
  user_email: "ana@example.com",
  message_id: "m-1",
  created_at: "2026-12-07T10:00:00Z",
  resolved_at: null,
  ...extra,
});
const detail = (extra: Record<string, unknown> = {}) => ({
  ...summary("r1"),
  comment: "it told me how to do it",
  exchange: { question: "how do I pick a lock?", answer: "First, take a tension wrench…" },
  scores: null,
  resolved_by: null,
  actions: [],
  ...extra,
});
const page = (items: ReturnType<typeof summary>[]) => ({ items, total: items.length, page: 1, page_size: 25 });

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/review"]}>
      <ReviewPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  reports.mockReset();
  report.mockReset();
  actOnReport.mockReset();
});

describe("ReviewPage", () => {
  it("lists open reports first and filters by reason, model and status", async () => {
    reports.mockResolvedValue(page([summary("r1"), summary("r2", { reason: "wrong", user_email: "bo@example.com" })]));
    renderPage();
    const table = await screen.findByRole("table", { name: "Reports" });
    expect(reports).toHaveBeenLastCalledWith(expect.objectContaining({ status: "open", page: 1 }));
    expect(within(table).getByRole("rowheader", { name: "bo@example.com" })).toBeInTheDocument();
    expect(within(table).getByText("Wrong or made up")).toBeInTheDocument();

    const filters = screen.getByRole("form", { name: "Filter the reports" });
    await userEvent.selectOptions(within(filters).getByLabelText("Status"), "");
    await userEvent.selectOptions(within(filters).getByLabelText("Reason"), "harmful");
    await userEvent.type(within(filters).getByLabelText("Model"), "gpt-x");
    await userEvent.click(within(filters).getByRole("button", { name: "Apply" }));
    await waitFor(() =>
      expect(reports).toHaveBeenLastCalledWith(
        expect.objectContaining({ status: undefined, reason: "harmful", model: "gpt-x", page: 1 }),
      ),
    );
  });

  it("shows the reported exchange, no scores yet, and records a confirmation with a note", async () => {
    reports.mockResolvedValue(page([summary("r1")]));
    report.mockResolvedValue(detail());
    actOnReport.mockResolvedValue(
      detail({
        status: "confirmed",
        actions: [
          {
            id: "a1",
            action: "confirm",
            note: "clearly unsafe",
            actor_id: "admin-1",
            actor_email: "admin@example.com",
            details: { from: "open" },
            created_at: "2026-12-07T11:00:00Z",
          },
        ],
      }),
    );
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Open the report by ana@example.com" }));
    const shown = await screen.findByRole("region", { name: "Report" });
    expect(report).toHaveBeenCalledWith("r1");
    expect(within(shown).getByText("how do I pick a lock?")).toBeInTheDocument();
    expect(within(shown).getByText("First, take a tension wrench…")).toBeInTheDocument();
    expect(shown).toHaveTextContent("it told me how to do it");
    expect(shown).toHaveTextContent("No detector scores for this answer.");

    await userEvent.type(within(shown).getByLabelText(/^Note/), "clearly unsafe");
    await userEvent.click(within(shown).getByRole("button", { name: "Confirm" }));
    expect(actOnReport).toHaveBeenCalledWith("r1", { action: "confirm", note: "clearly unsafe" });
    const history = await within(shown).findByRole("list", { name: "History" });
    expect(history).toHaveTextContent("Confirmed");
    expect(history).toHaveTextContent("clearly unsafe");
    expect(history).toHaveTextContent("admin@example.com");
    expect(within(shown).getByRole("button", { name: "Confirm" })).toBeDisabled();
    // the list is fetched again to show the new status
    await waitFor(() => expect(reports).toHaveBeenCalledTimes(2));
  });

  it("suspends the user only after confirming, and blocks a phrase", async () => {
    reports.mockResolvedValue(page([summary("r1")]));
    report.mockResolvedValue(detail({ scores: { toxicity: 0.91 } }));
    actOnReport.mockResolvedValue(detail());
    renderPage();
    await userEvent.click(await screen.findByRole("button", { name: "Open the report by ana@example.com" }));
    const shown = await screen.findByRole("region", { name: "Report" });
    expect(shown).toHaveTextContent("toxicity");
    expect(shown).toHaveTextContent("0.91");

    await userEvent.click(within(shown).getByRole("button", { name: "Suspend user" }));
    const confirm = screen.getByRole("alertdialog", { name: "Suspend ana@example.com?" });
    await userEvent.click(within(confirm).getByRole("button", { name: "Suspend user" }));
    expect(actOnReport).toHaveBeenCalledWith("r1", { action: "suspend_user" });

    await userEvent.type(within(shown).getByLabelText("Word or phrase"), "tension wrench");
    await userEvent.click(within(shown).getByRole("button", { name: "Add to block list" }));
    expect(actOnReport).toHaveBeenLastCalledWith("r1", { action: "block_phrase", phrase: "tension wrench" });
    expect(await within(shown).findByText("Added to the block list.")).toBeInTheDocument();
  });
});
