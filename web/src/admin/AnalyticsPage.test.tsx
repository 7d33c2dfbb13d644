import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import AnalyticsPage from "./AnalyticsPage";

const analytics = vi.fn();
const analyticsCsv = vi.fn();
vi.mock("../api/client", () => ({
  api: {
    admin: {
      analytics: (...args: unknown[]) => analytics(...args),
      analyticsCsv: (...args: unknown[]) => analyticsCsv(...args),
    },
  },
}));

const point = (key: string | null, cost: string, extra: Record<string, unknown> = {}) => ({
  key,
  active_users: 2,
  conversations: 4,
  messages: 10,
  answers: 5,
  failed_answers: 1,
  error_rate: 0.2,
  requests: 5,
  prompt_tokens: 100,
  completion_tokens: 50,
  total_tokens: 150,
  cost_usd: cost,
  cost_per_conversation_usd: "0.25",
  retained_7d: 1,
  retained_30d: 0,
  retention_7d: 0.5,
  retention_30d: 0,
  ttft_p50_ms: 200,
  ttft_p95_ms: 290,
  latency_p50_ms: 2000,
  latency_p95_ms: 2900,
  cache_hits: 1,
  saved_usd: "0.05",
  refused: 3,
  refused_by_limit: { tokens_per_day: 3 },
  thumbs_up: 3,
  thumbs_down: 1,
  satisfaction: 0.75,
  ...extra,
});
const report = (groupBy: string, series: ReturnType<typeof point>[]) => ({
  since: "2026-06-01T00:00:00Z",
  until: "2026-07-01T00:00:00Z",
  group_by: groupBy,
  active: { dau: 3, wau: 7, mau: 12 },
  total: point("total", "1.00"),
  series,
  plan_changes: [] as { from_plan: string; to_plan: string; count: number }[],
});

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/admin/analytics"]}>
      <AnalyticsPage />
    </MemoryRouter>,
  );
}

beforeEach(() => {
  analytics.mockReset();
  analyticsCsv.mockReset();
});

describe("AnalyticsPage", () => {
  it("shows the totals, a bar per key and a table row per key", async () => {
    analytics.mockResolvedValue(report("day", [point("2026-06-02", "0.75"), point("2026-06-03", "0.25")]));
    const { container } = renderPage();
    const table = await screen.findByRole("table", { name: "Analytics per key" });
    expect(screen.getByText("3 / 7 / 12")).toBeInTheDocument();
    expect(screen.getByText("Error rate", { selector: "dt" }).nextElementSibling).toHaveTextContent("20 %");
    expect(within(table).getByRole("rowheader", { name: "2026-06-02" })).toBeInTheDocument();
    expect(within(table).getByText("$0.75")).toBeInTheDocument();
    expect(within(table).getAllByText("200 ms / 290 ms")).toHaveLength(2);
    // the taller bar is the costlier day
    const bars = [...container.querySelectorAll("svg rect")].map((bar) => Number(bar.getAttribute("height")));
    expect(bars).toHaveLength(2);
    expect(bars[0]).toBeGreaterThan(bars[1] ?? Infinity);
    expect(analytics).toHaveBeenCalledWith(expect.objectContaining({ group_by: "day" }));
  });

  it("shows cache savings, refusals by limit, satisfaction and plan changes", async () => {
    const found = report("model", [point("echo", "0.75", { refused: null, refused_by_limit: {}, satisfaction: null, thumbs_up: 0, thumbs_down: 0 })]);
    found.total = point("total", "1.00", {
      saved_usd: "2.50",
      refused: 7,
      refused_by_limit: { tokens_per_day: 5, requests_per_minute: 2 },
      satisfaction: 0.8,
      thumbs_up: 8,
      thumbs_down: 2,
    });
    found.plan_changes = [
      { from_plan: "free", to_plan: "pro", count: 4 },
      { from_plan: "pro", to_plan: "free", count: 1 },
    ];
    analytics.mockResolvedValue(found);
    renderPage();
    const table = await screen.findByRole("table", { name: "Analytics per key" });
    const card = (label: string) => screen.getByText(label, { selector: "dt" }).nextElementSibling;
    expect(card("Saved by the cache")).toHaveTextContent("$2.50");
    expect(card("Refused by limits")).toHaveTextContent("7");
    expect(card("Satisfaction")).toHaveTextContent("80 %");
    const refusals = screen.getByRole("region", { name: "Refusals per limit" });
    expect(within(refusals).getByText("tokens_per_day").closest("li")).toHaveTextContent("tokens_per_day: 5");
    expect(within(refusals).getByText("requests_per_minute").closest("li")).toHaveTextContent("requests_per_minute: 2");
    expect(screen.getByRole("region", { name: "Feedback on answers" })).toHaveTextContent("8 thumbs up, 2 thumbs down");
    const changes = within(screen.getByRole("region", { name: "Plan changes" })).getAllByRole("listitem");
    expect(changes.map((item) => item.textContent)).toEqual(["free → pro: 4", "pro → free: 1"]);
    // per key: the new columns, with "–" where a figure does not apply (refusals per model) or nothing was rated
    const headers = within(table).getAllByRole("columnheader").map((header) => header.textContent);
    expect(headers).toEqual(expect.arrayContaining(["Saved by the cache", "Refused by limits", "Satisfaction"]));
    const row = within(table).getByRole("rowheader", { name: "echo" }).closest("tr") as HTMLElement;
    const cells = within(row).getAllByRole("cell").map((cell) => cell.textContent);
    const column = (name: string) => cells[headers.indexOf(name) - 1];
    expect(column("Saved by the cache")).toBe("$0.05");
    expect(column("Refused by limits")).toBe("–");
    expect(column("Satisfaction")).toBe("–");
  });

  it("says when nothing was refused and no plan changed", async () => {
    analytics.mockResolvedValue(report("day", [point("2026-06-02", "0.75")]));
    renderPage();
    await screen.findByRole("table");
    expect(screen.getByRole("region", { name: "Plan changes" })).toHaveTextContent("None in this period.");
    expect(screen.getByRole("region", { name: "Refusals per limit" })).not.toHaveTextContent("None in this period.");
  });

  it("asks again when the grouping changes, and names a missing key", async () => {
    analytics.mockResolvedValueOnce(report("day", [point("2026-06-02", "0.75")]));
    analytics.mockResolvedValueOnce(report("cost_centre", [point("CC-1", "0.75"), point(null, "0.10")]));
    renderPage();
    await screen.findByRole("table");
    await userEvent.selectOptions(screen.getByLabelText("Group by"), "cost_centre");
    const table = await screen.findByRole("table", { name: "Analytics per key" });
    await waitFor(() => expect(within(table).getByRole("rowheader", { name: "(none)" })).toBeInTheDocument());
    expect(within(table).getByRole("columnheader", { name: "Cost centre" })).toBeInTheDocument();
    expect(analytics).toHaveBeenLastCalledWith(expect.objectContaining({ group_by: "cost_centre" }));
  });

  it("downloads the CSV of the same query", async () => {
    analytics.mockResolvedValue(report("day", []));
    analyticsCsv.mockResolvedValue({ blob: new Blob(["day\r\n"]), filename: "parley-analytics-day.csv", contentType: "text/csv" });
    const createObjectURL = vi.fn(() => "blob:csv");
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    renderPage();
    expect(await screen.findByText("No usage in this period.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Download CSV" }));
    await waitFor(() => expect(createObjectURL).toHaveBeenCalled());
    expect(analyticsCsv).toHaveBeenCalledWith(expect.objectContaining({ group_by: "day" }));
  });

  it("says why when the server refuses", async () => {
    analytics.mockRejectedValue(new Error("offline"));
    renderPage();
    expect(await screen.findByRole("alert")).toBeInTheDocument();
  });
});
