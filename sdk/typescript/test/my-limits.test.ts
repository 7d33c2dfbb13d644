import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import type { MyLimits } from "../src/types.js";
import { fakeServer, json, problem } from "./fake-server.js";

const LIMITS: MyLimits = {
  plan: "free",
  quotas: [
    {
      name: "tokens-day",
      unit: "tokens",
      limit: 200000,
      used: 1500,
      reserved: 0,
      left: 198500,
      fraction_used: 0.0075,
      resets_at: "2026-06-02T00:00:00Z",
      group_id: null,
      group_name: null,
    },
  ],
  requests_per_minute: { limit: 20, remaining: 19, resets_at: "2026-06-01T10:01:00Z" },
  concurrent_answers: { limit: 2, running: 0 },
  max_upload_mib: 10,
  models: null,
};

describe("what a user sees of their limits", () => {
  it("reads my limits", async () => {
    const fake = fakeServer({ "GET /api/v1/users/me/limits": () => json(200, LIMITS) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const limits = await client.users.limits();
    expect(limits.quotas[0]?.left).toBe(198500);
    expect(limits.requests_per_minute?.remaining).toBe(19);
    expect(fake.calls.map((call) => `${call.method} ${call.path}`)).toEqual(["GET /api/v1/users/me/limits"]);
  });

  it("reads a conversation's context gauge, and someone else's conversation is a 404 ParleyApiError", async () => {
    const gauge = { model: "echo", context_window: 4096, context_tokens: 812, cost_usd: 0.0021 };
    const fake = fakeServer({
      "GET /api/v1/conversations/c1/context": () => json(200, gauge),
      "GET /api/v1/conversations/c2/context": () => problem(404, "conversation not found"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(await client.conversations.context("c1")).toEqual(gauge);
    const failure = await client.conversations.context("c2").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ParleyApiError);
    expect((failure as ParleyApiError).status).toBe(404);
  });
});
