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
  ...extra,
});
const report = (groupBy: string, series: ReturnType<typeof point>[]) => ({
  since: "2026-06-01T00:00:00Z",
  until: "2026-07-01T00:00:00Z",
  group_by: groupBy,
  active: { dau: 3, wau: 7, mau: 12 },
  total: point("total", "1.00"),
  series,
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
