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
}
