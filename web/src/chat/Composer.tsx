import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Icon } from "../components/Icon";

interface Props {
  streaming: boolean;
  disabled?: boolean;
  onSend(text: string): void;
  onStop(): void;
}

/** The message box: Enter sends, Shift+Enter adds a line, Esc stops the answer being written. */
export function Composer({ streaming, disabled = false, onSend, onStop }: Props) {
  const { t } = useTranslation();
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);

  // Grow with the text, up to a limit (then it scrolls).
  useEffect(() => {
    const element = area.current;
    if (!element) return;
    element.style.height = "auto";
    element.style.height = `${Math.min(element.scrollHeight, 240)}px`;
  }, [text]);

  function submit() {
    if (streaming || disabled || !text.trim()) return;
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

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    submit();
  }

  return (
    <form className="composer" onSubmit={onSubmit}>
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
          title={`${t("chat.send")} (Enter)`}
          disabled={disabled || !text.trim()}
        >
          <Icon name="send" />
        </button>
      )}
    </form>
  );
}
