import type { MyLimits, QuotaStanding } from "@parley/sdk";
import { ParleyApiError } from "@parley/sdk";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import i18n from "../i18n";
import { formatDateTime } from "../format";
import { describeRefusal } from "./limits";
import { LimitsMeter } from "./LimitsMeter";
import { LimitsProvider, useLimits } from "./LimitsProvider";

const limits = vi.fn();
vi.mock("../api/client", () => ({ api: { users: { limits: (...args: unknown[]) => limits(...args) } } }));

const TOMORROW = "2026-06-02T00:00:00Z";
const NEXT_MONTH = "2026-07-01T00:00:00Z";

function quota(name: string, used: number, limit: number, extra: Partial<QuotaStanding> = {}): QuotaStanding {
  const left = Math.max(0, limit - used);
  return {
    name,
    unit: name.includes("usd") ? "usd" : "tokens",
    limit,
    used,
    reserved: 0,
    left,
    fraction_used: Math.min(1, used / limit),
    resets_at: name === "tokens-day" ? TOMORROW : NEXT_MONTH,
    group_id: null,
    group_name: null,
    ...extra,
  };
}

function standing(quotas: QuotaStanding[]): MyLimits {
  return {
    plan: "free",
    quotas,
    requests_per_minute: null,
    concurrent_answers: { limit: null, running: 0 },
    max_upload_mib: null,
    models: null,
  };
}

function AnswerEnded() {
  const { refresh } = useLimits();
  return (
    <button type="button" onClick={refresh}>
      answer ended
    </button>
  );
}

async function meter(found: MyLimits) {
  limits.mockResolvedValue(found);
  const view = render(
    <LimitsProvider>
      <LimitsMeter />
    </LimitsProvider>,
  );
  await waitFor(() => expect(limits).toHaveBeenCalled());
  return view;
}

beforeEach(async () => {
  limits.mockReset();
  await i18n.changeLanguage("en");
});

describe("the limits meter", () => {
  it("shows tokens and budget left this period, without a warning below 80 %", async () => {
    await meter(standing([quota("tokens-day", 50_000, 200_000), quota("usd-month", 1.25, 5)]));

    expect(await screen.findByText("150K tokens left today")).toBeInTheDocument();
    expect(screen.getByText("$3.75 left this month")).toBeInTheDocument();
    const bars = screen.getAllByRole("meter");
    expect(bars.map((bar) => bar.getAttribute("aria-valuenow"))).toEqual(["25", "25"]);
    expect(screen.queryByRole("status")).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("warns from 80 % of the tightest quota, naming it", async () => {
    await meter(standing([quota("tokens-day", 170_000, 200_000), quota("tokens-month", 300_000, 2_000_000)]));

    expect(await screen.findByRole("status")).toHaveTextContent("85% of your daily token quota used.");
    expect(screen.getByTestId("limits-meter")).toHaveClass("limits-warning");
    // Only the tightest token quota is shown.
    expect(screen.getByText("30K tokens left today")).toBeInTheDocument();
    expect(screen.queryByText(/left this month/)).not.toBeInTheDocument();
  });

  it("at 100 % says clearly which limit is used up and when it comes back", async () => {
    await meter(standing([quota("tokens-day", 200_000, 200_000), quota("usd-month", 4.99, 5)]));

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(`Your daily token quota is used up. It comes back on ${formatDateTime(TOMORROW)}.`);
    expect(screen.getByTestId("limits-meter")).toHaveClass("limits-exhausted");
  });

  it("names a group's shared budget", async () => {
    const shared = quota("group-usd-month", 95, 100, { group_name: "Research", group_id: "g1" });
    await meter(standing([shared]));

    expect(await screen.findByText("$5.00 left of the Research budget")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("95% of the Research group's shared budget used.");
  });

  it("is hidden for a plan without quotas", async () => {
    const { container } = await meter(standing([]));
    await waitFor(() => expect(limits).toHaveBeenCalledTimes(1));
    expect(container).toBeEmptyDOMElement();
  });

  it("moves when a page says an answer ended", async () => {
    limits.mockResolvedValueOnce(standing([quota("tokens-day", 100, 1000)]));
    limits.mockResolvedValueOnce(standing([quota("tokens-day", 1000, 1000)]));
    render(
      <LimitsProvider>
        <LimitsMeter />
        <AnswerEnded />
      </LimitsProvider>,
    );
    expect(await screen.findByText("900 tokens left today")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "answer ended" }));

    expect(await screen.findByText("0 tokens left today")).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("Your daily token quota is used up.");
  });
});

describe("a refusal in words", () => {
  const refusal = (problem: Record<string, unknown>) =>
    new ParleyApiError({ status: 429, title: "Too Many Requests", detail: "server words", ...problem });

  it("says which quota refused the message and when it comes back", () => {
    const sentence = describeRefusal(refusal({ limit: "tokens-day", resets_at: TOMORROW, retry_after: 3600 }), i18n.t);
    expect(sentence).toBe(`Your daily token quota has too little left for this message. It comes back on ${formatDateTime(TOMORROW)}.`);
    const usedUp = describeRefusal(refusal({ limit: "tokens-day", resets_at: TOMORROW, left: 0 }), i18n.t);
    expect(usedUp).toBe(`Your daily token quota is used up. It comes back on ${formatDateTime(TOMORROW)}.`);
  });

  it("explains the per-minute limit and the answers at once", () => {
    expect(describeRefusal(refusal({ limit: "user-minute", quota: 20, retry_after: 30 }), i18n.t)).toMatch(
      /^You sent more messages than your plan allows in a minute \(20\)\. Try again at .+\.$/,
    );
    expect(describeRefusal(refusal({ limit: "concurrent-answers", quota: 2 }), i18n.t)).toBe(
      "Your plan allows 2 answers at once. Try again when one has finished.",
    );
  });

  it("is in the user's language", async () => {
    await i18n.changeLanguage("de");
    const sentence = describeRefusal(refusal({ limit: "usd-month", resets_at: NEXT_MONTH }), i18n.t);
    expect(sentence).toMatch(/^Ihr monatliches Budget reicht für diese Nachricht nicht mehr aus\./);
  });

  it("leaves other failures alone", () => {
    expect(describeRefusal(new ParleyApiError({ status: 500, detail: "boom" }), i18n.t)).toBeUndefined();
    expect(describeRefusal(new Error("offline"), i18n.t)).toBeUndefined();
  });
});
