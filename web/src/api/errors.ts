import { ParleyApiError, isNetworkFailure } from "@parley/sdk";
import type { TFunction } from "i18next";

/**
 * A sentence for the user about a failed call. `byStatus` gives the sentence for statuses the caller understands
 * better than the server's detail can say it (a 409 "name taken" on a form), in the user's language.
 */
export function describeError(error: unknown, t: TFunction, byStatus: Partial<Record<number, string>> = {}): string {
  if (error instanceof ParleyApiError) {
    return byStatus[error.status] || error.problem.detail || error.problem.title || t("app.error", { message: error.status });
  }
  if (isNetworkFailure(error)) return t("app.networkError");
  return t("app.error", { message: error instanceof Error ? error.message : String(error) });
}
