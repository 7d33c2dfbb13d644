import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import type { ChatEvent } from "../src/chat-stream.js";
import { ParleyApiError, ParleyNetworkError } from "../src/errors.js";
import { event, fakeServer, problem, sse } from "./fake-server.js";

const MESSAGE = { conversation_id: "c1", user_message_id: "m1", assistant_message_id: "m2", model: "echo" };
const DONE = { message_id: "m2", finish_reason: "stop", model: "echo", usage: { prompt_tokens: 3, completion_tokens: 2 }, cost: "0" };

async function collect(stream: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  for await (const item of stream) events.push(item);
  return events;
}

const fast = { resume: { initialDelayMs: 1, maxAttempts: 3 } };

describe("ChatStream", () => {
  it("yields typed events in order", async () => {
    const fake = fakeServer({
      "POST /api/v1/chat": () =>
        sse([event(1, "message", MESSAGE), event(2, "delta", { text: "Hel" }) + event(3, "delta", { text: "lo" }), event(4, "done", DONE), event(5, "title", { conversation_id: "c1", title: "Hi" })]),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const stream = client.chat.send({ message: "Hello" });
    const events = await collect(stream);
    expect(events.map((e) => e.event)).toEqual(["message", "delta", "delta", "done", "title"]);
    expect(events.filter((e) => e.event === "delta").map((e) => (e.data as { text: string }).text).join("")).toBe("Hello");
    expect(stream.conversationId).toBe("c1");
    expect(stream.finished).toBe(true);
    expect(fake.calls[0]?.body).toEqual({ message: "Hello", stream: true });
  });

  it("resumes with Last-Event-ID after the connection drops, without duplicates", async () => {
    const fake = fakeServer({
      "POST /api/v1/chat": () => sse([event(1, "message", MESSAGE), event(2, "delta", { text: "Hel" })], { breakAtEnd: true }),
      "GET /api/v1/chat/c1/stream": (call) => {
        expect(call.headers["last-event-id"]).toBe("2");
        return sse([event(3, "delta", { text: "lo" }), event(4, "done", DONE)]);
      },
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const events = await collect(client.chat.send({ message: "Hello" }));
    expect(events.map((e) => `${e.event}:${e.id}`)).toEqual(["message:1", "delta:2", "reconnecting:2", "reconnected:2", "delta:3", "done:4"]);
  });

  it("treats a stream that ends before done as a blip too", async () => {
    let resumes = 0;
    const fake = fakeServer({
      "POST /api/v1/chat": () => sse([event(1, "message", MESSAGE)]),
      "GET /api/v1/chat/c1/stream": () => {
        resumes++;
        return sse([event(2, "done", DONE)]);
      },
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const events = await collect(client.chat.send({ message: "Hi" }));
    expect(resumes).toBe(1);
    expect(events.at(-1)?.event).toBe("done");
  });

  it("retries a resume that cannot connect, and stops after maxAttempts", async () => {
    let resumes = 0;
    const fake = fakeServer({
      "POST /api/v1/chat": () => sse([event(1, "message", MESSAGE)], { breakAtEnd: true }),
      "GET /api/v1/chat/c1/stream": () => {
        resumes++;
        throw new TypeError("fetch failed");
      },
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    await expect(collect(client.chat.send({ message: "Hi" }))).rejects.toBeInstanceOf(ParleyNetworkError);
    expect(resumes).toBe(3);
  });

  it("ends as detached when the answer finished while disconnected (404)", async () => {
    const fake = fakeServer({
      "POST /api/v1/chat": () => sse([event(1, "message", MESSAGE)], { breakAtEnd: true }),
      "GET /api/v1/chat/c1/stream": () => problem(404, "nothing is running"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const stream = client.chat.send({ message: "Hi" });
    await collect(stream);
    expect(stream.detached).toBe(true);
    expect(stream.finished).toBe(false);
  });

  it("reports an error status of the request as ParleyApiError", async () => {
    const fake = fakeServer({ "POST /api/v1/chat/c9/regenerate": () => problem(409, "nothing to regenerate") });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const error = await collect(client.chat.regenerate("c9")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyApiError);
    expect((error as ParleyApiError).status).toBe(409);
  });

  it("stops reading when aborted", async () => {
    const controller = new AbortController();
    const fake = fakeServer({
      "POST /api/v1/chat": () => sse([event(1, "message", MESSAGE), event(2, "delta", { text: "a" }), event(3, "delta", { text: "b" })]),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x", ...fast });
    const seen: string[] = [];
    const run = async () => {
      for await (const item of client.chat.send({ message: "Hi" }, { signal: controller.signal })) {
        seen.push(item.event);
        if (item.event === "delta") controller.abort();
      }
    };
    await expect(run()).rejects.toMatchObject({ name: "AbortError" });
    expect(seen).toEqual(["message", "delta"]);
  });
});
