/** Dates, numbers and money in the user's language (the UI language, with the browser's regional variant). */
import i18n from "./i18n";

function locale(): string {
  const language = i18n.language || "en";
  const browser = typeof navigator === "undefined" ? undefined : navigator.language;
  // keep the browser's region when it speaks the same language (en-GB dates for a British user)
  return browser && browser.toLowerCase().startsWith(language) ? browser : language;
}

export function formatDateTime(value: string | Date | null | undefined): string {
  if (!value) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
}

export function formatDate(value: string | Date | null | undefined, options: Intl.DateTimeFormatOptions = { dateStyle: "medium" }): string {
  if (!value) return "";
  return new Intl.DateTimeFormat(locale(), options).format(new Date(value));
}

export function formatMonth(value: Date): string {
  return new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric" }).format(value);
}

export function formatNumber(value: number): string {
  return new Intl.NumberFormat(locale()).format(value);
}

export function formatCompact(value: number): string {
  return new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 1 }).format(value);
}

export function formatCost(value: number | string): string {
  const amount = typeof value === "string" ? Number(value) : value;
  return new Intl.NumberFormat(locale(), {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: amount !== 0 && Math.abs(amount) < 0.01 ? 6 : 2,
  }).format(amount);
}

/** 0.85 → "85%" (or "85 %" where the language writes it so). */
export function formatPercent(fraction: number): string {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(fraction);
}
