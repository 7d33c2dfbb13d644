import { useTranslation } from "react-i18next";
import type { UploadState } from "./useUploads";

/** A file's state as a small badge (the words carry it; the colour only repeats it). */
export function StatusBadge({ state, percent = 0 }: { state: UploadState; percent?: number }) {
  const { t } = useTranslation();
  const busy = state === "uploading" || state === "pending" || state === "processing";
  const label = state === "uploading" ? t("files.uploading", { percent }) : t(`files.${state}`);
  return (
    <span className={`status-badge status-${state}`} data-state={state}>
      {busy && <span className="spinner" aria-hidden="true" />}
      {label}
    </span>
  );
}
