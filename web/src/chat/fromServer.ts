import type { LimitNotice, Message } from "@parley/sdk";
import type { ChatMessage } from "./types";

/** The server's messages (newest first) as the chat view shows them (oldest first, user and assistant only). */
export function fromServer(items: Message[]): ChatMessage[] {
  return items
    .filter((message) => message.role === "user" || message.role === "assistant")
    .reverse()
    .map((message) => {
      const problem = message.metadata?.["problem"] as { detail?: string; title?: string } | undefined;
      const fallbacks = message.metadata?.["fallbacks"] as string[] | undefined;
      const limit = message.metadata?.["limit"] as LimitNotice | undefined;
      const view: ChatMessage = {
        id: message.id,
        role: message.role as ChatMessage["role"],
        content: message.content,
        model: message.model,
        finishReason: message.finish_reason,
        completionTokens: message.completion_tokens,
        status: problem ? "error" : "done",
      };
      if (message.citations?.length) view.citations = message.citations;
      // The images a question showed the model (README, "Images"), as thumbnails after a reload too.
      const attached = message.metadata?.["attachments"] as { image_file_ids?: string[] } | undefined;
      if (attached?.image_file_ids?.length) {
        view.attachments = attached.image_file_ids.map((imageId) => ({ id: imageId, filename: "", image: true }));
      }
      if (message.feedback) view.feedback = message.feedback;
      if (limit) view.limit = limit;
      if (problem) view.error = problem.detail || problem.title || "error";
      if (fallbacks?.length && message.model) view.fallback = { from: fallbacks[fallbacks.length - 1] ?? "", to: message.model };
      return view;
    });
}
