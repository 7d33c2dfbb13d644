import type { ReportReason } from "@parley/sdk";
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import "./ReportAnswer.css";

const COMMENT_MAX = 2000;
export const REPORT_REASONS: readonly ReportReason[] = ["harmful", "wrong", "offensive", "private_data", "other"];

/** "Report this answer": a flag beside the thumbs that opens the report dialog; once sent, a thank-you instead. */
export function ReportAnswer({ messageId }: { messageId: string }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  const [sent, setSent] = useState(false);
  return (
    <>
      <button
        type="button"
        className="icon-button"
        aria-label={t("report.action")}
        title={t("report.action")}
        disabled={sent}
        onClick={() => setOpen(true)}
      >
        <Icon name="flag" size={16} />
      </button>
      {sent && (
        <span className="muted small-text" role="status">
          {t("report.thanks")}
        </span>
      )}
      {open && (
        <ReportDialog
          messageId={messageId}
          onSent={() => {
            setOpen(false);
            setSent(true);
          }}
          onClose={() => setOpen(false)}
        />
      )}
    </>
  );
}

interface DialogProps {
  messageId: string;
  onSent(): void;
  onClose(): void;
}

/** The report dialog: a reason from the list and optional text. The answer's exchange is shown to administrators
 * (and nothing else of the conversation), which the dialog says before the report is sent. */
export function ReportDialog({ messageId, onSent, onClose }: DialogProps) {
  const { t } = useTranslation();
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const [reason, setReason] = useState<ReportReason | null>(null);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    panel.current?.querySelector<HTMLElement>("input")?.focus();
    return () => previous?.focus?.();
  }, []);

  async function send(event: FormEvent) {
    event.preventDefault();
    if (reason === null) return;
    setBusy(true);
    setError(null);
    try {
      const text = comment.trim();
      await api.chat.reportAnswer(messageId, text ? { reason, comment: text } : { reason });
      onSent();
    } catch (caught) {
      setError(describeError(caught, t, { 409: t("report.already") }));
      setBusy(false);
    }
  }

  return (
    <div className="modal-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div
        ref={panel}
        className="modal report-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onKeyDown={(event) => {
          if (event.key === "Escape") {
            event.stopPropagation();
            onClose();
          }
        }}
      >
        <h2 id={titleId}>{t("report.title")}</h2>
        <form className="form" onSubmit={(event) => void send(event)}>
          <fieldset className="report-reasons">
            <legend>{t("report.why")}</legend>
            {REPORT_REASONS.map((value) => (
              <label key={value} className="radio-field">
                <input
                  type="radio"
                  name="report-reason"
                  value={value}
                  checked={reason === value}
                  onChange={() => setReason(value)}
                />
                <span>{t(`report.reasons.${value}`)}</span>
              </label>
            ))}
          </fieldset>
          <label className="field">
            <span>{t("report.comment")}</span>
            <textarea value={comment} maxLength={COMMENT_MAX} rows={3} onChange={(event) => setComment(event.target.value)} />
          </label>
          <p className="muted small-text">{t("report.consent")}</p>
          {error && <Notice kind="error">{error}</Notice>}
          <div className="modal-actions">
            <button type="button" className="button" onClick={onClose}>
              {t("app.cancel")}
            </button>
            <button type="submit" className="button primary" disabled={busy || reason === null}>
              {t("report.send")}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
