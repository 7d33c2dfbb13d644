import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

const ANSWER = "6f1c1c4e-0000-4000-8000-000000000001";

describe("feedback on answers", () => {
  it("rates an answer and returns the message with its feedback", async () => {
    const rated = {
      id: ANSWER,
      role: "assistant",
      content: "42",
      feedback: { rating: "down", comment: "wrong", at: "2026-06-01T10:00:00Z" },
    };
    const fake = fakeServer({ [`PUT /api/v1/messages/${ANSWER}/feedback`]: () => json(200, rated) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const message = await client.chat.setFeedback(ANSWER, { rating: "down", comment: "wrong" });
    expect(message.feedback?.rating).toBe("down");
    expect(fake.calls.at(-1)?.body).toEqual({ rating: "down", comment: "wrong" });
  });

  it("withdraws a rating, and someone else's message is a ParleyApiError", async () => {
    const fake = fakeServer({
      [`DELETE /api/v1/messages/${ANSWER}/feedback`]: () => json(204, null),
      "PUT /api/v1/messages/other/feedback": () => problem(404, "message not found"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    await expect(client.chat.deleteFeedback(ANSWER)).resolves.toBeUndefined();
    expect(fake.calls.at(-1)?.method).toBe("DELETE");
    const refused = await client.chat.setFeedback("other", { rating: "up" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ParleyApiError);
    expect((refused as ParleyApiError).status).toBe(404);
  });
});
