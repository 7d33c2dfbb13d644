import { type KeyboardEvent, Suspense, useCallback, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { CopyButton } from "../components/CopyButton";
import { ErrorBoundary } from "../components/ErrorBoundary";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { reloadableLazy } from "../components/reloadableLazy";
import { Feedback } from "./Feedback";
import { ImageThumbnail } from "./ImageThumbnail";
import { LimitNoticeView } from "./LimitNoticeView";
import { ProgressLine } from "./ProgressLine";
import { ReportAnswer } from "./ReportAnswer";
import { SourcePanel, SourcesList } from "./Sources";
import type { ChatMessage } from "./types";

// Markdown, highlighting and KaTeX are most of the app's weight: they load after the first screen, and until
// then an answer shows as plain text. If their code cannot be fetched (the server restarting), answers stay plain
// text instead of taking the chat down, and the next message tries again.
const markdown = reloadableLazy(() => import("./Markdown").then((module) => ({ default: module.Markdown })));

interface Props {
  message: ChatMessage;
  /** Offered on the last question / last answer only, when nothing is streaming. */
  canEdit?: boolean;
  canRegenerate?: boolean;
  onEdit?(text: string): void;
  onRegenerate?(): void;
}

export function MessageView({ message, canEdit = false, canRegenerate = false, onEdit, onRegenerate }: Props) {
  const { t } = useTranslation();
  const Markdown = markdown();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const isUser = message.role === "user";
  const [activeSource, setActiveSource] = useState<number | null>(null);
  const sourceTrigger = useRef<HTMLElement | null>(null);
  const citations = message.citations;
  const openSource = useCallback((n: number, trigger: HTMLElement) => {
    sourceTrigger.current = trigger;
    setActiveSource((current) => (current === n ? null : n));
  }, []);
  const closeSource = useCallback(() => {
    setActiveSource(null);
    sourceTrigger.current?.focus();
  }, []);
  const activeCitation = activeSource === null ? undefined : citations?.find((citation) => citation.n === activeSource);

  function submitEdit() {
    const text = draft.trim();
    if (!text) return;
    setEditing(false);
    onEdit?.(text);
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submitEdit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      setEditing(false);
    }
  }

  return (
    <article
      className={`message ${isUser ? "from-user" : "from-assistant"} ${message.status}`}
      aria-label={isUser ? t("chat.you") : t("chat.assistant")}
      aria-busy={message.status === "streaming"}
      data-status={message.status}
    >
      <div className="message-body">
        {editing ? (
          <div className="edit-box">
            <textarea aria-label={t("chat.editLabel")} value={draft} onChange={(event) => setDraft(event.target.value)} onKeyDown={onKeyDown} autoFocus rows={3} />
            <div className="edit-actions">
              <button type="button" className="button" onClick={() => setEditing(false)}>
                {t("app.cancel")}
              </button>
              <button type="button" className="button primary" onClick={submitEdit}>
                {t("chat.saveAndSubmit")}
              </button>
            </div>
          </div>
        ) : isUser ? (
          <>
            {message.attachments?.length ? (
              <ul className="message-attachments" aria-label={t("chat.attachments")}>
                {message.attachments.map((file) =>
                  file.image ? (
                    <li key={file.id} className="message-image-item">
                      <ImageThumbnail id={file.id} filename={file.filename} />
                    </li>
                  ) : (
                    <li key={file.id} className="attachment-chip sent">
                      <Icon name="file" size={14} />
                      <span className="attachment-name">{file.filename}</span>
                    </li>
                  ),
                )}
              </ul>
            ) : null}
            <p className="user-text">{message.content}</p>
          </>
        ) : message.content ? (
          <ErrorBoundary resetKey={message.id} fallback={() => <p className="user-text">{message.content}</p>}>
            <Suspense fallback={<p className="user-text">{message.content}</p>}>
              <Markdown text={message.content} citations={citations} onCite={openSource} />
            </Suspense>
          </ErrorBoundary>
        ) : message.status === "streaming" && message.progress ? (
          <ProgressLine progress={message.progress} />
        ) : message.status === "streaming" ? (
          <p className="thinking" role="status">
            <span className="dots" aria-hidden="true" />
            {t("chat.thinking")}
          </p>
        ) : null}
        {!isUser && citations?.length ? <SourcesList citations={citations} active={activeSource} onSelect={openSource} /> : null}
        {activeCitation && <SourcePanel citation={activeCitation} onClose={closeSource} />}
        {message.fallback && (
          <Notice kind="warning">{t("chat.fallback", { from: message.fallback.from, to: message.fallback.to })}</Notice>
        )}
        {message.status === "error" && <Notice kind="error">{message.error ?? t("chat.interrupted")}</Notice>}
        {!isUser && message.limit && <LimitNoticeView notice={message.limit} />}
        {message.finishReason === "cancelled" && <p className="muted small-text">{t("chat.stopped")}</p>}
        {message.finishReason === "interrupted" && <p className="muted small-text">{t("chat.interrupted")}</p>}
      </div>
      {!editing && message.status !== "streaming" && (
        <div className="message-actions">
          {message.content && <CopyButton text={() => message.content} label={t("chat.copyMessage")} doneLabel={t("app.copied")} />}
          {isUser && canEdit && (
            <button
              type="button"
              className="icon-button"
              aria-label={t("chat.edit")}
              title={t("chat.edit")}
              onClick={() => {
                setDraft(message.content);
                setEditing(true);
              }}
            >
              <Icon name="edit" size={16} />
            </button>
          )}
          {!isUser && canRegenerate && (
            <button type="button" className="icon-button" aria-label={t("chat.regenerate")} title={t("chat.regenerate")} onClick={onRegenerate}>
              <Icon name="refresh" size={16} />
            </button>
          )}
          {/* a finished answer the server has saved (not one still known only by its local id) */}
          {!isUser && message.status === "done" && message.finishReason && !message.id.startsWith("local-") && (
            <>
              <Feedback key={message.id} messageId={message.id} initial={message.feedback} />
              <ReportAnswer key={`report-${message.id}`} messageId={message.id} />
            </>
          )}
          {!isUser && message.model && <span className="message-model">{message.model}</span>}
        </div>
      )}
    </article>
  );
}
