import { describe, expect, it } from "vitest";
import { SSEParser, readSSE } from "../src/sse.js";

const STREAM =
  ": keep-alive\n\n" +
  "id: 1\nevent: message\ndata: {\"conversation_id\":\"c1\"}\n\n" +
  "id: 2\nevent: delta\ndata: {\"text\":\"Grüße 👋\"}\n\n" +
  "event: note\ndata: line one\ndata: line two\n\n" +
  "id: 3\r\nevent: done\r\ndata: {\"finish_reason\":\"stop\"}\r\n\r\n";

const EXPECTED = [
  { event: "message", data: '{"conversation_id":"c1"}', id: "1" },
  { event: "delta", data: '{"text":"Grüße 👋"}', id: "2" },
  { event: "note", data: "line one\nline two", id: "2" },
  { event: "done", data: '{"finish_reason":"stop"}', id: "3" },
];

function parseInPieces(pieces: string[]): unknown[] {
  const parser = new SSEParser();
  return pieces.flatMap((piece) => parser.push(piece));
}

/** A deterministic pseudo-random generator, so a failing split can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function bodyOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

describe("SSEParser", () => {
  it("parses events, ids, comments, multi-line data and CRLF", () => {
    expect(parseInPieces([STREAM])).toEqual(EXPECTED);
  });

  it("gives the same events whatever the chunk boundaries (every single split point)", () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      expect(parseInPieces([STREAM.slice(0, cut), STREAM.slice(cut)])).toEqual(EXPECTED);
    }
  });

  it("gives the same events one character at a time and in random pieces", () => {
    expect(parseInPieces([...STREAM])).toEqual(EXPECTED);
    const next = random(42);
    for (let round = 0; round < 200; round++) {
      const pieces: string[] = [];
      let at = 0;
      while (at < STREAM.length) {
        const size = 1 + Math.floor(next() * 12);
        pieces.push(STREAM.slice(at, at + size));
        at += size;
      }
      expect(parseInPieces(pieces)).toEqual(EXPECTED);
    }
  });

  it("treats a CR split from its LF as one line end", () => {
    expect(parseInPieces(["data: a\r", "\n\r", "\ndata: b\r\r"])).toEqual([
      { event: "message", data: "a", id: undefined },
      { event: "message", data: "b", id: undefined },
    ]);
  });

  it("keeps the last id across events, ignores unknown fields and drops an unterminated event", () => {
    const parser = new SSEParser("7");
    expect(parser.push("foo: bar\ndata\n\ndata: x\n\nid: 9\ndata: cut off")).toEqual([
      { event: "message", data: "", id: "7" },
      { event: "message", data: "x", id: "7" },
    ]);
    expect(parser.lastEventId).toBe("9");
  });

  it("reports retry and strips only one leading space", () => {
    expect(parseInPieces(["retry: 1500\ndata:  two spaces\n\n"])).toEqual([
      { event: "message", data: " two spaces", id: undefined, retry: 1500 },
    ]);
  });
});

describe("readSSE", () => {
  it("decodes bytes split inside multi-byte characters", async () => {
    const bytes = new TextEncoder().encode(STREAM);
    for (const size of [1, 2, 3, 5, 7, 64]) {
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.slice(at, at + size));
      const events = [];
      for await (const event of readSSE(bodyOf(chunks))) events.push(event);
      expect(events).toEqual(EXPECTED);
    }
  });
});
