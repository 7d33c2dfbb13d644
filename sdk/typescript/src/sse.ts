/**
 * A server-sent events parser that follows the WHATWG rules: lines end in LF, CRLF or CR (also split across
 * chunks), `data:` lines join with newlines, `id:` persists until changed, comments (`:`) are skipped, and an
 * event is dispatched at a blank line (an unterminated event at the end of the stream is dropped).
 */

export interface SSEMessage {
  /** The event type (`message` when the server named none). */
  event: string;
  data: string;
  /** The last event id seen so far in the stream (what `Last-Event-ID` should carry on reconnect). */
  id: string | undefined;
  /** A reconnection delay the server asked for, in ms. */
  retry?: number;
}

export class SSEParser {
  private buffer = "";
  private afterCR = false;
  private dataLines: string[] = [];
  private eventType = "";
  private retry: number | undefined;
  /** The stream's last event id, kept between events as the spec says. */
  lastEventId: string | undefined;

  constructor(lastEventId?: string) {
    this.lastEventId = lastEventId;
  }

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SSEMessage[] {
    const events: SSEMessage[] = [];
    let start = 0;
    let index = 0;
    if (this.afterCR && text.startsWith("\n")) {
      // the LF of a CRLF whose CR ended the previous chunk
      start = index = 1;
    }
    this.afterCR = false;
    for (; index < text.length; index++) {
      const char = text.charCodeAt(index);
      if (char !== 10 && char !== 13) continue;
      this.line(this.buffer + text.slice(start, index), events);
      this.buffer = "";
      if (char === 13) {
        if (index + 1 === text.length) this.afterCR = true;
        else if (text.charCodeAt(index + 1) === 10) index++;
      }
      start = index + 1;
    }
    this.buffer += text.slice(start);
    return events;
  }

  private line(line: string, events: SSEMessage[]): void {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.dataLines.push(value);
        break;
      case "event":
        this.eventType = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  private dispatch(events: SSEMessage[]): void {
    if (this.dataLines.length > 0) {
      const message: SSEMessage = {
        event: this.eventType || "message",
        data: this.dataLines.join("\n"),
        id: this.lastEventId,
      };
      if (this.retry !== undefined) message.retry = this.retry;
      events.push(message);
    }
    this.dataLines = [];
    this.eventType = "";
    this.retry = undefined;
  }
}

/** Reads a response body as server-sent events; multi-byte characters split across chunks decode intact. */
export async function* readSSE(
  body: ReadableStream<Uint8Array>,
  options: { lastEventId?: string; signal?: AbortSignal } = {},
): AsyncGenerator<SSEMessage> {
  const parser = new SSEParser(options.lastEventId);
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const onAbort = (): void => {
    reader.cancel().catch(() => undefined);
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal);
      const { done, value } = await reader.read();
      if (options.signal?.aborted) throw abortError(options.signal);
      if (done) {
        finished = true;
        break;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    // Stopped early (the consumer broke out, or an error): close the connection instead of leaving it open.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}
