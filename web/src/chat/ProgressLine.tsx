import type { StatusEventData } from "@parley/sdk";
import { useTranslation } from "react-i18next";

/** What the server does before the answer starts: "Reading report.pdf…", "Searching your documents…",
 * "Summarising 3/8…". A polite live region, so screen readers hear each step. */
export function ProgressLine({ progress }: { progress: StatusEventData }) {
  const { t } = useTranslation();
  return (
    <p className="thinking progress-line" role="status" aria-live="polite" data-stage={progress.stage}>
      <span className="dots" aria-hidden="true" />
      {describeProgress(progress, t)}
    </p>
  );
}

export function describeProgress(progress: StatusEventData, t: (key: string, options?: Record<string, unknown>) => string): string {
  switch (progress.stage) {
    case "reading_files":
      return progress.files?.length ? t("chat.statusReading", { files: progress.files.join(", ") }) : t("chat.statusReadingAny");
    case "searching":
      return t("chat.statusSearching");
    case "summarising":
      return progress.total ? t("chat.statusSummarising", { done: progress.done ?? 0, total: progress.total }) : t("chat.statusSummarisingAny");
    default:
      return t("chat.thinking");
  }
}
