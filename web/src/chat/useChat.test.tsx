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

  it("reports a refused request on the answer", async () => {
    send.mockReturnValue({
      conversationId: undefined,
      detached: false,
      async *[Symbol.asyncIterator]() {
        const { ParleyApiError } = await import("@parley/sdk");
        throw new ParleyApiError({ status: 429, title: "Too Many Requests", detail: "slow down" });
      },
    });
    const { result } = setup();
    act(() => result.current.send("Hi"));
    await waitFor(() => expect(result.current.messages[1]?.status).toBe("error"));
    expect(result.current.messages[1]?.error).toBe("The answer failed: slow down");
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
