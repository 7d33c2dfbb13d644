import type { MessageFeedback, MessageRating } from "@parley/sdk";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { Icon } from "../components/Icon";

const COMMENT_MAX = 2000;

/** Thumbs up / down on a finished answer. Pressing the chosen one again withdraws it; a thumbs down offers an
 * optional comment saying what was wrong. The server's answer is what is shown, so a failed call changes nothing. */
export function Feedback({ messageId, initial }: { messageId: string; initial: MessageFeedback | null | undefined }) {
  const { t } = useTranslation();
  const [feedback, setFeedback] = useState<MessageFeedback | null>(initial ?? null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [commenting, setCommenting] = useState(false);
  const [comment, setComment] = useState("");
  const [thanked, setThanked] = useState(false);

  async function send(rating: MessageRating | null, text?: string): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      if (rating === null) {
        await api.chat.deleteFeedback(messageId);
        setFeedback(null);
      } else {
        const message = await api.chat.setFeedback(messageId, text ? { rating, comment: text } : { rating });
        setFeedback(message.feedback ?? null);
      }
      return true;
    } catch (caught) {
      setError(describeError(caught, t));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function choose(rating: MessageRating) {
    const withdraw = feedback?.rating === rating;
    setThanked(false);
    setCommenting(false);
    if ((await send(withdraw ? null : rating)) && !withdraw) {
      if (rating === "down") {
        setComment(feedback?.rating === "down" ? (feedback.comment ?? "") : "");
        setCommenting(true);
      } else {
        setThanked(true);
      }
    }
  }

  async function submitComment(event: FormEvent) {
    event.preventDefault();
    const text = comment.trim();
    if (text && !(await send("down", text))) return;
    setCommenting(false);
    setThanked(true);
  }

  const rating = feedback?.rating;
  return (
    <>
      <button
        type="button"
        className={`icon-button feedback-button${rating === "up" ? " chosen" : ""}`}
        aria-label={t("chat.goodAnswer")}
        title={t("chat.goodAnswer")}
        aria-pressed={rating === "up"}
        disabled={busy}
        onClick={() => void choose("up")}
      >
        <Icon name="thumbUp" size={16} />
      </button>
      <button
        type="button"
        className={`icon-button feedback-button${rating === "down" ? " chosen" : ""}`}
        aria-label={t("chat.badAnswer")}
        title={t("chat.badAnswer")}
        aria-pressed={rating === "down"}
        disabled={busy}
        onClick={() => void choose("down")}
      >
        <Icon name="thumbDown" size={16} />
      </button>
      {thanked && (
        <span className="muted small-text" role="status">
          {t("chat.feedbackThanks")}
        </span>
      )}
      {error && (
        <span className="small-text feedback-error" role="alert">
          {error}
        </span>
      )}
      {commenting && (
        <form className="feedback-comment" onSubmit={(event) => void submitComment(event)}>
          <textarea
            aria-label={t("chat.feedbackComment")}
            placeholder={t("chat.feedbackComment")}
            value={comment}
            maxLength={COMMENT_MAX}
            rows={2}
            autoFocus
            onChange={(event) => setComment(event.target.value)}
          />
          <div className="edit-actions">
            <button type="button" className="button" onClick={() => setCommenting(false)} disabled={busy}>
              {t("chat.feedbackSkip")}
            </button>
            <button type="submit" className="button primary" disabled={busy || !comment.trim()}>
              {t("chat.feedbackSend")}
            </button>
          </div>
        </form>
      )}
    </>
  );
}
