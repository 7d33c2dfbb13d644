/**
 * A streamed answer: an async iterable of typed chat events that survives network blips. When the connection
 * breaks before the answer is over, it reconnects to `GET /api/v1/chat/{id}/stream` with `Last-Event-ID`, so
 * the events missed meanwhile are replayed once and the answer continues where it was.
 */
import { ParleyNetworkError, isAbort, isNetworkFailure } from "./errors.js";
import { readSSE } from "./sse.js";
import type { Citation, LimitNotice } from "./types.js";

export interface MessageEventData {
  conversation_id: string;
  user_message_id: string;
  assistant_message_id: string;
  model: string;
}
export interface DeltaEventData {
  text: string;
}
export interface FallbackEventData {
  from_model: string;
  model: string;
  reason: string;
}
export interface DoneEventData {
  message_id: string;
  finish_reason: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  cost: string;
  /** The sources the answer drew on (documents of the message or conversation); `[n]` in the text refers to them. */
  citations?: Citation[];
  /** Set when the answer stopped (finish_reason `length`) at a used-up quota: which, and when it comes back. */
  limit?: LimitNotice;
}
/** What happens before the answer starts when documents are involved. */
export type StatusStage = "reading_files" | "searching" | "summarising";
export interface StatusEventData {
  stage: StatusStage | (string & {});
  /** reading_files: the files still being read. */
  files?: string[];
  /** summarising: parts done out of total. */
  done?: number;
  total?: number;
}
export interface ErrorEventData {
  problem: { type?: string; title?: string; status?: number; detail?: string; [key: string]: unknown };
  message_id: string;
}
export interface TitleEventData {
  conversation_id: string;
  title: string;
}

type Tagged<E extends string, D> = { event: E; data: D; id: string | undefined };

export type ChatEvent =
  | Tagged<"message", MessageEventData>
  | Tagged<"delta", DeltaEventData>
  | Tagged<"status", StatusEventData>
  | Tagged<"fallback", FallbackEventData>
  | Tagged<"done", DoneEventData>
  | Tagged<"error", ErrorEventData>
  | Tagged<"title", TitleEventData>
  /** Emitted by the SDK (not the server): the connection broke and a reconnect is about to be tried. */
  | Tagged<"reconnecting", { attempt: number }>
  /** Emitted by the SDK (not the server): reattached; the events missed meanwhile follow. */
  | Tagged<"reconnected", { attempt: number }>;

const SERVER_EVENTS = new Set(["message", "status", "delta", "fallback", "done", "error", "title"]);

export interface ResumeOptions {
  /** How many reconnects in a row to try before giving up (default 5). */
  maxAttempts?: number;
  /** Delay before the first reconnect, doubled each time up to 5 s (default 500 ms). */
  initialDelayMs?: number;
}

export interface ChatStreamSource {
  /** Opens the original request (POST /chat or /regenerate); throws ParleyApiError on an error status. */
  open(signal: AbortSignal | undefined): Promise<Response>;
  /** Reattaches; resolves null when nothing is running any more (404). */
  resume(conversationId: string, lastEventId: string | undefined, signal: AbortSignal | undefined): Promise<Response | null>;
  conversationId?: string;
}

export class ChatStream implements AsyncIterable<ChatEvent> {
  /** Known once the `message` event arrived (or from the start, for a regenerate or a resume). */
  conversationId: string | undefined;
  assistantMessageId: string | undefined;
  lastEventId: string | undefined;
  /** `done` or `error` arrived: the answer is complete. */
  finished = false;
  /** The connection broke and the run had ended before we could reattach: reload the messages to see it. */
  detached = false;
  private started = false;

  constructor(
    private readonly source: ChatStreamSource,
    private readonly signal: AbortSignal | undefined,
    private readonly resumeOptions: ResumeOptions = {},
  ) {
    this.conversationId = source.conversationId;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatEvent> {
    if (this.started) throw new Error("a ChatStream can be iterated once");
    this.started = true;
    const maxAttempts = this.resumeOptions.maxAttempts ?? 5;
    let delay = this.resumeOptions.initialDelayMs ?? 500;
    let attempts = 0;
    let response: Response | null = await this.source.open(this.signal);
    for (;;) {
      if (response) {
        try {
          if (!response.body) throw new ParleyNetworkError("the response has no body");
          for await (const message of readSSE(response.body, { lastEventId: this.lastEventId, signal: this.signal })) {
            if (!SERVER_EVENTS.has(message.event)) continue;
            const event = { event: message.event, data: JSON.parse(message.data), id: message.id } as ChatEvent;
            this.track(event);
            attempts = 0;
            yield event;
          }
          // The server closed the stream: normal after `done`/`error`; otherwise treat it like a blip.
          if (this.finished) return;
        } catch (error) {
          if (isAbort(error) || this.signal?.aborted) throw error;
          if (!isNetworkFailure(error)) throw error;
          if (this.finished) return;
        }
      }
      if (this.conversationId === undefined) {
        throw new ParleyNetworkError("the connection broke before the answer started");
      }
      attempts++;
      if (attempts > maxAttempts) throw new ParleyNetworkError(`the stream broke and ${maxAttempts} reconnects failed`);
      if (attempts === 1) yield { event: "reconnecting", data: { attempt: attempts }, id: this.lastEventId };
      await sleep(delay, this.signal);
      delay = Math.min(delay * 2, 5000);
      try {
        response = await this.source.resume(this.conversationId, this.lastEventId, this.signal);
      } catch (error) {
        if (isAbort(error) || this.signal?.aborted) throw error;
        if (!isNetworkFailure(error)) throw error;
        response = null;
        continue;
      }
      if (response === null) {
        this.detached = true;
        return;
      }
      yield { event: "reconnected", data: { attempt: attempts }, id: this.lastEventId };
    }
  }

  private track(event: ChatEvent): void {
    if (event.id !== undefined) this.lastEventId = event.id;
    switch (event.event) {
      case "message":
        this.conversationId = event.data.conversation_id;
        this.assistantMessageId = event.data.assistant_message_id;
        break;
      case "done":
      case "error":
        this.finished = true;
        break;
      default:
        break;
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new DOMException("aborted", "AbortError"));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
