import type { KnowledgeBase } from "@parley/sdk";
import { type ClipboardEvent, type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Icon } from "../components/Icon";
import { AttachmentChip } from "../files/AttachmentChip";
import type { Upload } from "../files/useUploads";
import { KnowledgeBasePicker } from "../knowledge/KnowledgeBasePicker";

interface Props {
  streaming: boolean;
  disabled?: boolean;
  onSend(text: string): void;
  onStop(): void;
  /** Files attached to the next message; with `onAttach`, the composer offers a button and takes pasted files. */
  attachments?: Upload[];
  onAttach?(files: File[]): void;
  onRemoveAttachment?(key: string): void;
  /** The knowledge bases to choose from for the next messages (the picker shows with `onKnowledgeBasesChange`). */
  knowledgeBases?: KnowledgeBase[] | null;
  selectedKnowledgeBases?: string[];
  onKnowledgeBasesChange?(ids: string[]): void;
  /** Text to put back in the box: a message that never reached the server. A new `id` puts it back again. */
  restore?: { id: number; text?: string } | null;
  /** The chosen model, when it is known not to read images: a message with images waits, saying so. */
  modelWithoutVision?: string | null;
}

const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;

/** An attachment that is (or, still uploading, will be) an image for the model. */
export function isImage(upload: Upload): boolean {
  return upload.file ? upload.file.file_type === "image" : IMAGE_NAME.test(upload.name);
}

/** The message box: Enter sends, Shift+Enter adds a line, Esc stops the answer being written. Files can be
 * attached with the paperclip or pasted; sending waits until every upload has reached the server. */
export function Composer({
  streaming,
  disabled = false,
  onSend,
  onStop,
  attachments = [],
  onAttach,
  onRemoveAttachment,
  knowledgeBases = null,
  selectedKnowledgeBases = [],
  onKnowledgeBasesChange,
  restore = null,
  modelWithoutVision = null,
}: Props) {
  const { t } = useTranslation();
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const uploading = attachments.some((upload) => upload.state === "uploading");
  const blind = !!modelWithoutVision && attachments.some((upload) => upload.state !== "rejected" && isImage(upload));
  const blocked = uploading || blind;
  const chosenBases = (knowledgeBases ?? []).filter((base) => selectedKnowledgeBases.includes(base.id));

  // A message that was not sent comes back; whatever was typed since stays after it.
  const restoreId = restore?.id;
  const restoreText = restore?.text;
  useEffect(() => {
    if (restoreId === undefined || !restoreText) return;
    setText((current) => (current.trim() && current !== restoreText ? `${restoreText}\n${current}` : restoreText));
    area.current?.focus();
  }, [restoreId, restoreText]);

  // Grow with the text, up to a limit (then it scrolls).
  useEffect(() => {
    const element = area.current;
    if (!element) return;
    element.style.height = "auto";
    element.style.height = `${Math.min(element.scrollHeight, 240)}px`;
  }, [text]);

  function submit() {
    if (streaming || disabled || blocked || !text.trim()) return;
    onSend(text);
    setText("");
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && streaming) {
      event.preventDefault();
      onStop();
    }
  }

  function onPaste(event: ClipboardEvent<HTMLTextAreaElement>) {
    if (!onAttach) return;
    const files = Array.from(event.clipboardData?.files ?? []);
    if (!files.length) return;
    event.preventDefault();
    onAttach(files);
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    submit();
  }

  const showChips = attachments.length > 0 || chosenBases.length > 0;
  return (
    <form className="composer" onSubmit={onSubmit}>
      {blind && (
        <p className="composer-warning" role="alert">
          {t("chat.noVision", { model: modelWithoutVision })}
        </p>
      )}
      {showChips && (
        <ul className="attachment-list" aria-label={t("chat.attachments")} aria-live="polite">
          {chosenBases.map((base) => (
            <li key={base.id} className="attachment-chip kb-chip">
              <Icon name="book" size={16} />
              <span className="attachment-text">
                <span className="attachment-name">{base.name}</span>
              </span>
              <button
                type="button"
                className="icon-button attachment-remove"
                aria-label={t("chat.removeKnowledgeBase", { name: base.name })}
                title={t("chat.removeKnowledgeBase", { name: base.name })}
                onClick={() => onKnowledgeBasesChange?.(selectedKnowledgeBases.filter((id) => id !== base.id))}
              >
                <Icon name="close" size={14} />
              </button>
            </li>
          ))}
          {attachments.map((upload) => (
            <AttachmentChip key={upload.key} upload={upload} onRemove={onRemoveAttachment} />
          ))}
        </ul>
      )}
      <div className="composer-row">
        {onAttach && (
          <>
            <input
              ref={picker}
              type="file"
              multiple
              hidden
              tabIndex={-1}
              aria-hidden="true"
              data-testid="composer-file-input"
              onChange={(event) => {
                const files = Array.from(event.target.files ?? []);
                event.target.value = "";
                if (files.length) onAttach(files);
              }}
            />
            <button
              type="button"
              className="composer-tool"
              aria-label={t("chat.attach")}
              title={t("chat.attach")}
              disabled={disabled}
              onClick={() => picker.current?.click()}
            >
              <Icon name="paperclip" />
            </button>
          </>
        )}
        {onKnowledgeBasesChange && (
          <KnowledgeBasePicker
            knowledgeBases={knowledgeBases}
            selected={selectedKnowledgeBases}
            onChange={onKnowledgeBasesChange}
            disabled={disabled}
          />
        )}
        <label htmlFor="composer-input" className="visually-hidden">
          {t("chat.composerLabel")}
        </label>
        <textarea
          id="composer-input"
          ref={area}
          rows={1}
          value={text}
          placeholder={t("chat.placeholder")}
          aria-describedby="composer-hint"
          onChange={(event) => setText(event.target.value)}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          disabled={disabled}
          autoFocus
        />
        <span id="composer-hint" className="visually-hidden">
          {t("chat.emptyHint")}
        </span>
        {streaming ? (
          <button type="button" className="composer-button stop" onClick={onStop} aria-label={t("chat.stop")} title={`${t("chat.stop")} (Esc)`}>
            <Icon name="stop" />
          </button>
        ) : (
          <button
            type="submit"
            className="composer-button"
            aria-label={t("chat.send")}
            title={
              blind
                ? t("chat.noVision", { model: modelWithoutVision })
                : uploading
                  ? t("chat.waitForUploads")
                  : `${t("chat.send")} (Enter)`
            }
            disabled={disabled || blocked || !text.trim()}
          >
            <Icon name="send" />
          </button>
        )}
      </div>
    </form>
  );
}
