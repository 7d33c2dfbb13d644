import { ParleyApiError } from "@parley/sdk";
import type { TFunction } from "i18next";
import { describeError } from "../api/errors";

/** Why an upload was refused, in words: the kind of refusal first (too large, unsupported type), then the
 * server's own detail (which says the limit, or the type it saw). */
export function describeUploadError(error: unknown, t: TFunction): string {
  if (error instanceof ParleyApiError) {
    const detail = error.problem.detail || "";
    const kind =
      error.status === 413 ? t("files.tooLarge") : error.status === 415 || error.status === 422 ? t("files.unsupported") : null;
    if (kind) return detail && detail !== kind ? `${kind} ${detail}` : kind;
    return describeError(error, t);
  }
  return describeError(error, t);
}
