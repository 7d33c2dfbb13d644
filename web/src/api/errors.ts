import { ParleyApiError, isNetworkFailure } from "@parley/sdk";
import type { TFunction } from "i18next";

/** A sentence for the user about a failed call. */
export function describeError(error: unknown, t: TFunction): string {
  if (error instanceof ParleyApiError) {
    return error.problem.detail || error.problem.title || t("app.error", { message: error.status });
  }
  if (isNetworkFailure(error)) return t("app.networkError");
  return t("app.error", { message: error instanceof Error ? error.message : String(error) });
}
