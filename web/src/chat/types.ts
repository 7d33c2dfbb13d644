import type { Citation, LimitNotice, MessageFeedback, StatusEventData } from "@parley/sdk";

export type MessageStatus = "done" | "streaming" | "error";

/** A message as the chat view shows it. */
export interface ChatMessage {
  id: string;
  role: "user" | "assistant";
  content: string;
  model?: string | null;
  finishReason?: string | null;
  status: MessageStatus;
  error?: string;
  fallback?: { from: string; to: string };
  completionTokens?: number | null;
  /** What the server is doing before the answer starts (reading files, searching, summarising). */
  progress?: StatusEventData;
  /** The sources of a grounded answer; `[n]` in the content refers to them. */
  citations?: Citation[];
  /** Files sent with a question (shown on it); images as thumbnails. */
  attachments?: { id: string; filename: string; image?: boolean }[];
  /** The user's thumbs up / down on a saved answer. */
  feedback?: MessageFeedback | null;
  /** The answer stopped at a used-up quota: which, and when it comes back. */
  limit?: LimitNotice;
}
