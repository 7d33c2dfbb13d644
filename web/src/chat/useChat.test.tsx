import type { ChatEvent } from "@parley/sdk";
import { act, renderHook, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { useChat } from "./useChat";

const send = vi.fn();
const regenerate = vi.fn();
const stop = vi.fn();
const messages = vi.fn();

vi.mock("../api/client", () => ({
  api: {
    chat: {
      send: (...args: unknown[]) => send(...args),
      regenerate: (...args: unknown[]) => regenerate(...args),
      stop: (...args: unknown[]) => stop(...args),
      messages: (...args: unknown[]) => messages(...args),
      resume: vi.fn(),
    },
  },
}));

/** A stream that yields the given events, pausing before each until `step()` is called. */
function scriptedStream(events: ChatEvent[]) {
  let release: (() => void) | null = null;
  const stream = {
    conversationId: undefined as string | undefined,
    detached: false,
    async *[Symbol.asyncIterator]() {
      for (const event of events) {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        if (event.event === "message") stream.conversationId = event.data.conversation_id;
        yield event;
      }
    },
  };
  const step = async () => {
    await waitFor(() => expect(release).not.toBeNull());
    const next = release!;
    release = null;
    await act(async () => {
      next();
      await new Promise((resolve) => setTimeout(resolve, 30));
    });
  };
  return { stream, step };
}

const ev = (event: string, data: unknown, id: number) => ({ event, data, id: String(id) }) as ChatEvent;

/** A stream whose request fails before the server acknowledged it (no `message` event). */
function failingStream(error: () => Promise<unknown>, conversationId?: string) {
  return {
    conversationId,
    detached: false,
    async *[Symbol.asyncIterator]() {
      throw await error();
    },
  };
}

/** One finished exchange, as the server lists it (newest first). */
const EXCHANGE = [
  { id: "a0", role: "assistant", content: "first answer", model: "echo", finish_reason: "stop", completion_tokens: 2, metadata: {} },
  { id: "u0", role: "user", content: "first question", model: null, finish_reason: null, completion_tokens: null, metadata: {} },
];
const DONE = { message_id: "a1", finish_reason: "stop", model: "echo", usage: { prompt_tokens: 1, completion_tokens: 2 }, cost: "0" };

function setup() {
  const callbacks = { onStarted: vi.fn(), onTitle: vi.fn(), onActivity: vi.fn() };
  const hook = renderHook(({ id }: { id: string | undefined }) => useChat(id, "echo", callbacks), {
    initialProps: { id: undefined as string | undefined },
  });
  return { ...hook, callbacks };
}

beforeEach(() => {
  send.mockReset();
  regenerate.mockReset();
  stop.mockReset().mockResolvedValue({ message_id: "a1", finish_reason: "cancelled", content: "Hel" });
  messages.mockReset().mockResolvedValue({ items: [], next_cursor: null });
});

describe("useChat", () => {
  it("shows the question at once and the answer growing token by token", async () => {
    const { stream, step } = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "echo" }, 1),
      ev("delta", { text: "Hel" }, 2),
      ev("delta", { text: "lo" }, 3),
      ev("done", DONE, 4),
      ev("title", { conversation_id: "c1", title: "Greeting" }, 5),
    ]);
    send.mockReturnValue(stream);
    const { result, callbacks } = setup();
    act(() => result.current.send("Hi"));
    expect(result.current.messages.map((m) => [m.role, m.content, m.status])).toEqual([
      ["user", "Hi", "done"],
      ["assistant", "", "streaming"],
    ]);
    expect(result.current.streaming).toBe(true);
    await waitFor(() => expect(send).toHaveBeenCalledWith({ message: "Hi", conversation_id: null, model: "echo" }, expect.anything()));

    await step();
    expect(callbacks.onStarted).toHaveBeenCalledWith("c1");
    expect(result.current.messages.map((m) => m.id)).toEqual(["u1", "a1"]);
    await step();
    expect(result.current.messages[1]?.content).toBe("Hel");
    await step();
    expect(result.current.messages[1]?.content).toBe("Hello");
    await step();
    expect(result.current.messages[1]).toMatchObject({ status: "done", finishReason: "stop", completionTokens: 2 });
    expect(result.current.streaming).toBe(false);
    await step();
    expect(callbacks.onTitle).toHaveBeenCalledWith("c1", "Greeting");
  });

  it("shows a fallback and an error inline on the answer", async () => {
    const { stream, step } = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "gpt" }, 1),
      ev("fallback", { from_model: "gpt", model: "local", reason: "HTTP 500" }, 2),
      ev("error", { problem: { status: 502, detail: "every model failed" }, message_id: "a1" }, 3),
    ]);
    send.mockReturnValue(stream);
    const { result } = setup();
    act(() => result.current.send("Hi"));
    await step();
    await step();
    expect(result.current.messages[1]).toMatchObject({ fallback: { from: "gpt", to: "local" }, model: "local" });
    await step();
    expect(result.current.messages[1]).toMatchObject({ status: "error", error: "every model failed" });
    expect(result.current.streaming).toBe(false);
  });

  it("gives a refused question back for the message box, with the server's reason", async () => {
    send.mockReturnValue(failingStream(async () => {
      const { ParleyApiError } = await import("@parley/sdk");
      return new ParleyApiError({ status: 429, title: "Too Many Requests", detail: "slow down" });
    }));
    const { result } = setup();
    act(() => result.current.send("Hi"));
    await waitFor(() => expect(result.current.undelivered).toMatchObject({ text: "Hi", error: "slow down" }));
    expect(result.current.messages).toEqual([]);
    expect(result.current.streaming).toBe(false);
  });

  it("says which quota refused a question and when it comes back, instead of a generic failure", async () => {
    send.mockReturnValue(failingStream(async () => {
      const { ParleyApiError } = await import("@parley/sdk");
      return new ParleyApiError({
        status: 429,
        title: "Too Many Requests",
        detail: "Your daily token quota (60 tokens) is used up",
        limit: "tokens-day",
        resets_at: "2026-06-02T00:00:00Z",
        retry_after: 600,
      });
    }));
    const { result } = setup();
    act(() => result.current.send("Hi"));
    await waitFor(() => expect(result.current.undelivered?.text).toBe("Hi"));
    expect(result.current.undelivered?.error).toMatch(/^Your daily token quota has too little left for this message\. It comes back on .*2026/);
  });

  it("keeps the notice of an answer that stopped at a quota", async () => {
    const notice = { limit: "tokens-day", message: "stopped", resets_at: "2026-06-02T00:00:00Z" };
    const { stream, step } = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "echo" }, 1),
      ev("done", { ...DONE, finish_reason: "length", limit: notice }, 2),
    ]);
    send.mockReturnValue(stream);
    const { result } = setup();
    act(() => result.current.send("Hi"));
    await step();
    await step();
    expect(result.current.messages[1]).toMatchObject({ status: "done", finishReason: "length", limit: notice });
  });

  it("keeps a question that never reached the server, instead of showing it asked and then losing it", async () => {
    // A finished exchange, then the network goes: the next question fails before the server saw it.
    messages.mockResolvedValue({ items: EXCHANGE, next_cursor: null });
    const { result, rerender, unmount } = setup();
    rerender({ id: "c1" });
    await waitFor(() => expect(result.current.messages).toHaveLength(2));
    send.mockReturnValue(failingStream(async () => new TypeError("Failed to fetch"), "c1"));
    act(() => result.current.send("offline question"));
    await waitFor(() => expect(result.current.undelivered?.text).toBe("offline question"));
    expect(result.current.undelivered?.error).toMatch(/Parley cannot be reached/);
    // It is not shown as asked, so the Regenerate on screen is the one under the answer it belongs to.
    expect(result.current.messages.map((m) => [m.id, m.content])).toEqual([
      ["u0", "first question"],
      ["a0", "first answer"],
    ]);

    // A reload of the page: the question is still there to send.
    unmount();
    const again = setup();
    again.rerender({ id: "c1" });
    await waitFor(() => expect(again.result.current.undelivered?.text).toBe("offline question"));

    // Sent again once online: delivered, so it is not offered again after another reload.
    const { stream, step } = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "echo" }, 1),
      ev("done", DONE, 2),
    ]);
    send.mockReturnValue(stream);
    act(() => again.result.current.send("offline question"));
    expect(again.result.current.undelivered).toBeNull();
    await step();
    await step();
    expect(send).toHaveBeenLastCalledWith({ message: "offline question", conversation_id: "c1", model: "echo" }, expect.anything());
    expect(regenerate).not.toHaveBeenCalled();
    again.unmount();
    const later = setup();
    later.rerender({ id: "c1" });
    await waitFor(() => expect(messages).toHaveBeenCalledTimes(3));
    expect(later.result.current.undelivered).toBeNull();
  });

  it("puts the previous answer back when a regenerate did not reach the server", async () => {
    messages.mockResolvedValue({ items: EXCHANGE, next_cursor: null });
    const { result, rerender } = setup();
    rerender({ id: "c1" });
    await waitFor(() => expect(result.current.messages).toHaveLength(2));
    regenerate.mockReturnValue(failingStream(async () => new TypeError("Failed to fetch"), "c1"));
    act(() => result.current.regenerate());
    await waitFor(() => expect(result.current.undelivered?.error).toMatch(/Parley cannot be reached/));
    expect(result.current.undelivered?.text).toBeUndefined();
    expect(result.current.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      ["u0", "first question", "done"],
      ["a0", "first answer", "done"],
    ]);
  });

  it("asks the server to stop, and regenerates the last answer", async () => {
    const first = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "echo" }, 1),
      ev("delta", { text: "Hel" }, 2),
      ev("done", { ...DONE, finish_reason: "cancelled" }, 3),
    ]);
    send.mockReturnValue(first.stream);
    const { result, rerender } = setup();
    act(() => result.current.send("Hi"));
    await first.step();
    rerender({ id: "c1" });
    await first.step();
    await act(() => result.current.stop());
    expect(stop).toHaveBeenCalledWith("c1");
    await first.step();
    expect(result.current.messages[1]).toMatchObject({ content: "Hel", finishReason: "cancelled" });
    await waitFor(() => expect(result.current.streaming).toBe(false));

    const second = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a2", model: "echo" }, 1),
      ev("delta", { text: "Hello again" }, 2),
      ev("done", { ...DONE, message_id: "a2" }, 3),
    ]);
    regenerate.mockReturnValue(second.stream);
    act(() => result.current.regenerate());
    await second.step();
    await second.step();
    await second.step();
    expect(regenerate).toHaveBeenCalledWith("c1", { model: "echo" }, expect.anything());
    expect(result.current.messages.map((m) => [m.id, m.content])).toEqual([
      ["u1", "Hi"],
      ["a2", "Hello again"],
    ]);
    expect(messages).not.toHaveBeenCalled(); // the new chat's id did not reload (and lose) the live answer
  });

  it("sends attached files and knowledge bases, shows progress, then the answer's citations", async () => {
    const citations = [{ n: 1, file_id: "f1", filename: "notes.txt", page: null, sheet: null, snippet: "the fact", cited: true }];
    const { stream, step } = scriptedStream([
      ev("message", { conversation_id: "c1", user_message_id: "u1", assistant_message_id: "a1", model: "echo" }, 1),
      ev("status", { stage: "reading_files", files: ["notes.txt"] }, 2),
      ev("status", { stage: "searching" }, 3),
      ev("delta", { text: "It is so [1]." }, 4),
      ev("done", { ...DONE, citations }, 5),
    ]);
    send.mockReturnValue(stream);
    const { result } = setup();
    act(() => result.current.send("What is it?", { files: [{ id: "f1", filename: "notes.txt" }], knowledgeBaseIds: ["k1"] }));
    expect(result.current.messages[0]?.attachments).toEqual([{ id: "f1", filename: "notes.txt" }]);
    await waitFor(() =>
      expect(send).toHaveBeenCalledWith(
        { message: "What is it?", conversation_id: null, model: "echo", file_ids: ["f1"], knowledge_base_ids: ["k1"] },
        expect.anything(),
      ),
    );
    await step();
    await step();
    expect(result.current.messages[1]?.progress).toEqual({ stage: "reading_files", files: ["notes.txt"] });
    await step();
    expect(result.current.messages[1]?.progress).toEqual({ stage: "searching" });
    await step();
    expect(result.current.messages[1]).toMatchObject({ content: "It is so [1].", progress: undefined });
    await step();
    expect(result.current.messages[1]).toMatchObject({ status: "done", citations });
  });
});
