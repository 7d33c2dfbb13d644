import { useTranslation } from "react-i18next";
import { Icon } from "../components/Icon";
import { formatBytes } from "./format";
import { StatusBadge } from "./StatusBadge";
import type { Upload } from "./useUploads";

/** One attached file in the composer: its name, size and state (upload %, being read, ready, failed + why). */
export function AttachmentChip({ upload, onRemove }: { upload: Upload; onRemove?(key: string): void }) {
  const { t } = useTranslation();
  const failed = upload.state === "failed" || upload.state === "rejected";
  return (
    <li className={`attachment-chip ${failed ? "failed" : ""}`} data-state={upload.state} title={upload.error ?? upload.name}>
      <Icon name="file" size={16} />
      <span className="attachment-text">
        <span className="attachment-name">{upload.name}</span>
        <span className="attachment-meta">
          <StatusBadge state={upload.state} percent={upload.percent} />
          {!failed && <span className="muted">{formatBytes(upload.size)}</span>}
        </span>
        {upload.state === "uploading" && (
          <progress className="attachment-progress" max={100} value={upload.percent} aria-label={t("files.progressLabel", { name: upload.name })} />
        )}
        {failed && upload.error && <span className="attachment-error">{upload.error}</span>}
      </span>
      {onRemove && (
        <button
          type="button"
          className="icon-button attachment-remove"
          aria-label={t("chat.removeAttachment", { name: upload.name })}
          title={t("chat.removeAttachment", { name: upload.name })}
          onClick={() => onRemove(upload.key)}
        >
          <Icon name="close" size={14} />
        </button>
      )}
    </li>
  );
}
