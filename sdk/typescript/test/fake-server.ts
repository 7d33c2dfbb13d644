/** A scripted `fetch` for tests: routes by "METHOD path" to handlers, and records every call. */
export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  /** A multipart body (uploads). */
  form?: FormData;
  query: URLSearchParams;
}

export type Handler = (call: Call, signal: AbortSignal | undefined) => Response | Promise<Response>;

export function json(status: number, body: unknown, type = "application/json"): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": type } });
}

export function problem(status: number, detail: string): Response {
  return json(status, { type: "about:blank", title: "Error", status, detail }, "application/problem+json");
}

export function fakeServer(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input), "http://parley.test");
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = typeof init.body === "string" ? JSON.parse(init.body) : undefined;
    const call: Call = { method: init.method ?? "GET", path: url.pathname, headers, body, query: url.searchParams };
    if (init.body instanceof FormData) call.form = init.body;
    calls.push(call);
    const handler = routes[`${call.method} ${call.path}`];
    if (!handler) return problem(404, `no route ${call.method} ${call.path}`);
    return handler(call, init.signal ?? undefined);
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

/** An SSE body that sends the given text chunks, then either ends or fails like a dropped connection. */
export function sseBody(chunks: string[], options: { breakAtEnd?: boolean; delayMs?: number } = {}): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let index = 0;
  return new ReadableStream({
    async pull(controller) {
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (index < chunks.length) {
        controller.enqueue(encoder.encode(chunks[index++]));
      } else if (options.breakAtEnd) {
        controller.error(new TypeError("network error"));
      } else {
        controller.close();
      }
    },
  });
}

export function sse(chunks: string[], options: { breakAtEnd?: boolean; status?: number } = {}): Response {
  return new Response(sseBody(chunks, options), {
    status: options.status ?? 200,
    headers: { "Content-Type": "text/event-stream" },
  });
}

export function event(id: number, name: string, data: unknown): string {
  return `id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
