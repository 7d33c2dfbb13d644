/**
 * Limits as a form holds them: text per number (empty: unlimited) and a model list (or "every model"), and, for
 * overrides, whether each limit is set at all (a limit not set is left to the plan). Converted both ways here, so
 * the plans page, the user limits dialog and the group limits section read and write the API's shape alike.
 */

import type { Plan } from "@parley/sdk";

/** Every limit of a plan, in the order the forms show them. */
export const PLAN_LIMITS = [
  "requests_per_minute",
  "concurrent_answers",
  "tokens_per_day",
  "tokens_per_month",
  "usd_budget_per_month",
  "max_upload_mib",
  "api_key_requests_per_minute",
  "conversation_retention_days",
  "file_retention_days",
  "models",
  "pii_policy",
] as const;

/** A group's limits: the plan's, and a budget its members share. */
export const GROUP_LIMITS = [...PLAN_LIMITS, "shared_usd_budget_per_month"] as const;

export type LimitKey = (typeof GROUP_LIMITS)[number];

/** Limits in the API's shape: a number, null (unlimited) or a model list (null: every model); a group's also
 * carry the budget its members share. */
export type Limits = Plan & { shared_usd_budget_per_month?: number | null };

const MONEY: ReadonlySet<LimitKey> = new Set(["usd_budget_per_month", "shared_usd_budget_per_month"]);

export const isMoney = (key: LimitKey): boolean => MONEY.has(key);

/** What a plan, group or user override may say about personal data in prompts (README, "PII"); the empty
 * choice leaves it to each model of the catalogue. */
export const PII_POLICIES = ["off", "pseudonymise", "mask", "block"] as const;

export interface LimitDraft {
  /** Overrides only: the limit is set (else the plan decides). Always true for a plan's own limits. */
  set: boolean;
  /** A number as typed; empty: unlimited. */
  text: string;
  /** `models`: every model (null in the API), or only `models`. */
  allModels: boolean;
  models: string[];
}

export type Draft = Partial<Record<LimitKey, LimitDraft>>;

/** The form's state for `limits` (a plan's limits, or stored overrides with only the keys set). */
export function draftOf(keys: readonly LimitKey[], limits: Limits | null | undefined, partial: boolean): Draft {
  const draft: Draft = {};
  for (const key of keys) {
    const given = limits != null && key in limits;
    const value = given ? limits[key] : null;
    draft[key] = {
      set: partial ? given : true,
      text: typeof value === "number" || typeof value === "string" ? String(value) : "",
      allModels: !Array.isArray(value),
      models: Array.isArray(value) ? value : [],
    };
  }
  return draft;
}

export type DraftResult = { limits: Limits; invalid: null } | { limits: null; invalid: LimitKey };

/** The API body for the form's state; the first limit that is not a non-negative number (a whole one, but for
 * money) is named instead. */
export function limitsOf(keys: readonly LimitKey[], draft: Draft): DraftResult {
  const limits: Record<string, number | string | string[] | null> = {};
  for (const key of keys) {
    const field = draft[key];
    if (!field?.set) continue;
    if (key === "models") {
      limits.models = field.allModels ? null : field.models;
      continue;
    }
    if (key === "pii_policy") {
      limits.pii_policy = field.text === "" ? null : field.text;
      continue;
    }
    const text = field.text.trim();
    if (text === "") {
      limits[key] = null;
      continue;
    }
    const number = Number(text);
    if (!Number.isFinite(number) || number < 0 || (!isMoney(key) && !Number.isInteger(number))) {
      return { limits: null, invalid: key };
    }
    limits[key] = number;
  }
  return { limits: limits as Limits, invalid: null };
}
