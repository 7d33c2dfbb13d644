/**
 * What the web app says about limits: which quota is tightest, whether it is near (80 %) or at its end, and
 * sentences for a refusal (429) and for an answer that stopped at a quota, in the user's language with the reset
 * time in the user's time zone.
 */
import { type LimitNotice, ParleyApiError, type QuotaStanding } from "@parley/sdk";
import type { TFunction } from "i18next";
import { formatDate, formatDateTime } from "../format";

export const WARNING_AT = 0.8;

export type MeterState = "ok" | "warning" | "exhausted";

/** How much of a quota is spent (what answers being written hold for the moment does not count: an answer holds
 * its longest possible length, and gives back what it did not use when it ends). */
export function fractionUsed(quota: QuotaStanding): number {
  if (spentLeft(quota) <= 0) return 1;
  return Math.min(1, Math.max(0, quota.fraction_used));
}

/** What is left of a quota once what is spent is taken off (not what answers being written hold). */
export function spentLeft(quota: QuotaStanding): number {
  return Math.max(0, quota.limit - quota.used);
}

export function meterState(fraction: number): MeterState {
  if (fraction >= 1) return "exhausted";
  return fraction >= WARNING_AT ? "warning" : "ok";
}

/** The quota of `unit` (or of any unit) closest to its end; the one that comes back last on a tie. */
export function tightest(quotas: QuotaStanding[], unit?: QuotaStanding["unit"]): QuotaStanding | undefined {
  let found: QuotaStanding | undefined;
  for (const quota of quotas) {
    if (unit && quota.unit !== unit) continue;
    if (
      !found ||
      fractionUsed(quota) > fractionUsed(found) ||
      (fractionUsed(quota) === fractionUsed(found) && quota.resets_at > found.resets_at)
    ) {
      found = quota;
    }
  }
  return found;
}

const NAME_KEYS: Record<string, string> = {
  "tokens-day": "tokensDay",
  "tokens-month": "tokensMonth",
  "usd-month": "usdMonth",
  "group-usd-month": "groupUsdMonth",
};

/** The limit in words, lower case, for the middle of a sentence ("your daily token quota"). */
export function limitName(t: TFunction, name: string, group?: string | null): string {
  const key = NAME_KEYS[name];
  if (!key) return name;
  if (key === "groupUsdMonth" && !group) return t("limits.names.groupUsdMonthUnnamed");
  return t(`limits.names.${key}`, { group: group ?? "" });
}

/** "Your daily token quota is used up. It comes back on 8 Dec 2026, 01:00." */
export function usedUpSentence(t: TFunction, name: string, resetsAt: string, group?: string | null): string {
  return capitalise(t("limits.usedUp", { what: limitName(t, name, group), when: formatDateTime(resetsAt) }));
}

/** The sentence under an answer that stopped at a used-up quota. */
export function answerStoppedSentence(t: TFunction, notice: LimitNotice): string {
  if (!NAME_KEYS[notice.limit]) return notice.message;
  return t("limits.answerStopped", { what: limitName(t, notice.limit), when: formatDateTime(notice.resets_at) });
}

/**
 * A clear sentence for a request a limit refused (429 `quota_exceeded` / `rate_limited`): which limit, and when
 * the user can go on; undefined for any other failure.
 */
export function describeRefusal(error: unknown, t: TFunction): string | undefined {
  if (!(error instanceof ParleyApiError) || error.status !== 429) return undefined;
  const problem = error.problem;
  const limit = typeof problem["limit"] === "string" ? problem["limit"] : "";
  const resetsAt = typeof problem["resets_at"] === "string" ? problem["resets_at"] : undefined;
  const retryAfter = typeof problem["retry_after"] === "number" ? problem["retry_after"] : undefined;
  const when = resetsAt
    ? formatDateTime(resetsAt)
    : retryAfter !== undefined
      ? formatDateTime(new Date(Date.now() + retryAfter * 1000))
      : "";
  if (NAME_KEYS[limit] && resetsAt) {
    const group = typeof problem["group_name"] === "string" ? problem["group_name"] : undefined;
    // A quota is refused when what is left cannot hold the message: used up (left 0), or nearly.
    if (problem["left"] === 0) return usedUpSentence(t, limit, resetsAt, group);
    return capitalise(
      t("limits.notEnoughLeft", { what: limitName(t, limit, group), when: formatDateTime(resetsAt) }),
    );
  }
  if (limit === "user-minute" || limit === "key-minute") {
    // Within the minute: the time says it all.
    const at = resetsAt ?? new Date(Date.now() + (retryAfter ?? 60) * 1000);
    return t("limits.tooManyRequests", { quota: problem["quota"], when: formatDate(at, { timeStyle: "short" }) });
  }
  if (limit === "concurrent-answers") return t("limits.tooManyAnswers", { quota: problem["quota"] });
  const detail = problem.detail || problem.title || "";
  return when ? t("limits.refusedUntil", { detail, when }) : detail;
}

export function capitalise(text: string): string {
  return text.charAt(0).toLocaleUpperCase() + text.slice(1);
}
