import { describe, expect, it, vi } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError, ParleySessionEndedError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

const PAIR = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: "bearer", expires_in: 900 });
const ME = { id: "u1", email: "a@b.c", full_name: null, role: "user", subscription_tier: "free", is_active: true, created_at: "", last_login_at: null };

/** Conversations answer 200 only to the current access token; refresh hands out the next pair. */
function server(options: { refreshWorks?: boolean; refreshDelayMs?: number } = {}) {
  let current = 1;
  let refreshes = 0;
  const fake = fakeServer({
    "POST /api/v1/auth/login": () => json(200, PAIR(current)),
    "POST /api/v1/auth/refresh": async () => {
      refreshes++;
      if (options.refreshDelayMs) await new Promise((resolve) => setTimeout(resolve, options.refreshDelayMs));
      if (options.refreshWorks === false) return problem(401, "refresh token reused or expired");
      current++;
      return json(200, PAIR(current));
    },
    "GET /api/v1/users/me": (call) =>
      call.headers["authorization"] === `Bearer access-${current}` ? json(200, ME) : problem(401, "expired"),
    "GET /api/v1/conversations": (call) =>
      call.headers["authorization"] === `Bearer access-${current}`
        ? json(200, { items: [], next_cursor: null })
        : problem(401, "expired"),
  });
  return {
    ...fake,
    get refreshes() {
      return refreshes;
    },
    expireAccessToken() {
      current++;
    },
  };
}

describe("refresh on 401", () => {
  it("refreshes once and retries the call with the new token", async () => {
    const api = server();
    const client = new ParleyClient({ fetch: api.fetch, session: "tokens" });
    await client.auth.login("a@b.c", "pw");
    api.expireAccessToken();
    const page = await client.conversations.list();
    expect(page.items).toEqual([]);
    expect(api.refreshes).toBe(1);
    const refresh = api.calls.find((call) => call.path === "/api/v1/auth/refresh");
    expect(refresh?.body).toEqual({ refresh_token: "refresh-1" });
    expect(api.calls.at(-1)?.headers["authorization"]).toBe("Bearer access-3");
  });

  it("gives up after one failed refresh and ends the session", async () => {
    const api = server({ refreshWorks: false });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: api.fetch, session: "tokens", onSessionEnded: ended });
    await client.auth.login("a@b.c", "pw");
    api.expireAccessToken();
    await expect(client.conversations.list()).rejects.toBeInstanceOf(ParleySessionEndedError);
    expect(api.refreshes).toBe(1);
    expect(ended).toHaveBeenCalledTimes(1);
    expect(ended.mock.calls[0]?.[0]).toBe("expired");
    expect(client.session.accessToken).toBeNull();
    // signed out now: the next call does not refresh again
    await expect(client.conversations.list()).rejects.toBeInstanceOf(ParleyApiError);
    expect(api.refreshes).toBe(1);
  });

  it("gives up when the retried call is refused again (no refresh loop)", async () => {
    const fake = fakeServer({
      "POST /api/v1/auth/refresh": () => json(200, PAIR(2)),
      "GET /api/v1/conversations": () => problem(401, "no"),
    });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens", onSessionEnded: ended });
    client.auth.useTokens(PAIR(1));
    await expect(client.conversations.list()).rejects.toBeInstanceOf(ParleySessionEndedError);
    expect(fake.calls.filter((call) => call.path === "/api/v1/auth/refresh")).toHaveLength(1);
    expect(fake.calls.filter((call) => call.path === "/api/v1/conversations")).toHaveLength(2);
    expect(ended).toHaveBeenCalledWith("expired", expect.objectContaining({ status: 401 }));
  });

  it("does not end the session when the refresh fails for another reason (a 503)", async () => {
    const fake = fakeServer({
      "POST /api/v1/auth/refresh": () => problem(503, "database restarting"),
      "GET /api/v1/conversations": () => problem(401, "expired"),
    });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens", onSessionEnded: ended });
    client.auth.useTokens(PAIR(1));
    const error = (await client.conversations.list().catch((e: unknown) => e)) as ParleyApiError;
    expect(error).not.toBeInstanceOf(ParleySessionEndedError);
    expect(error.status).toBe(503);
    expect(ended).not.toHaveBeenCalled();
    expect(client.session.canRefresh).toBe(true);
  });

  it("makes exactly one refresh for many concurrent 401s, and every call succeeds", async () => {
    const api = server({ refreshDelayMs: 20 });
    const client = new ParleyClient({ fetch: api.fetch, session: "tokens" });
    await client.auth.login("a@b.c", "pw");
    api.expireAccessToken();
    const pages = await Promise.all(Array.from({ length: 10 }, () => client.conversations.list()));
    expect(pages).toHaveLength(10);
    expect(api.refreshes).toBe(1);
  });

  it("does not refresh again for a call that was refused with a token already replaced", async () => {
    const api = server({ refreshDelayMs: 5 });
    const client = new ParleyClient({ fetch: api.fetch, session: "tokens" });
    await client.auth.login("a@b.c", "pw");
    api.expireAccessToken();
    await client.conversations.list();
    await Promise.all([client.conversations.list(), client.users.me()]);
    expect(api.refreshes).toBe(1);
  });
});

describe("cookie sessions (browsers)", () => {
  it("keeps only the access token, refreshes with an empty body and restores a session", async () => {
    const api = server();
    const client = new ParleyClient({ fetch: api.fetch, session: "cookie" });
    await client.auth.login("a@b.c", "pw");
    expect(client.session.currentRefreshToken).toBeNull();
    const restored = new ParleyClient({ fetch: api.fetch, session: "cookie" });
    expect(await restored.auth.restore()).toEqual(ME);
    const refresh = api.calls.find((call) => call.path === "/api/v1/auth/refresh");
    expect(refresh?.body).toBeUndefined();
  });

  it("refreshes inside a Web Lock, so two tabs never present the same cookie", async () => {
    const api = server();
    const held: string[] = [];
    vi.stubGlobal("navigator", {
      locks: {
        request: async (name: string, task: () => Promise<unknown>) => {
          held.push(name);
          return task();
        },
      },
    });
    try {
      const client = new ParleyClient({ fetch: api.fetch, session: "cookie" });
      await client.auth.login("a@b.c", "pw");
      api.expireAccessToken();
      await client.conversations.list();
      expect(held).toEqual(["parley-refresh"]);
      expect(api.refreshes).toBe(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("restore answers null when there is no session cookie", async () => {
    const api = server({ refreshWorks: false });
    const client = new ParleyClient({ fetch: api.fetch, session: "cookie" });
    expect(await client.auth.restore()).toBeNull();
  });
});

describe("errors", () => {
  it("turns problem+json into ParleyApiError", async () => {
    const fake = fakeServer({ "GET /api/v1/conversations/x": () => problem(404, "Conversation not found") });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-test" });
    const error = await client.conversations.get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyApiError);
    expect((error as ParleyApiError).status).toBe(404);
    expect((error as ParleyApiError).message).toBe("Conversation not found");
    expect(fake.calls[0]?.headers["authorization"]).toBe("Bearer pk-test");
  });

  it("reads OpenAI-shaped errors from /v1", async () => {
    const fake = fakeServer({
      "GET /v1/models": () => json(401, { error: { message: "Invalid API key", type: "invalid_request_error", code: "invalid_api_key" } }),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-bad" });
    const error = (await client.models.list().catch((e: unknown) => e)) as ParleyApiError;
    expect(error.status).toBe(401);
    expect(error.message).toBe("Invalid API key");
  });

  it("reads one model with its capabilities", async () => {
    const echo = {
      id: "echo",
      object: "model",
      created: 1_800_000_000,
      owned_by: "scripted",
      context_window: 8192,
      max_output_tokens: 1024,
      capabilities: { tools: true, json_schema: true, vision: false, logprobs: false },
    };
    const fake = fakeServer({ "GET /v1/models/echo": () => json(200, echo) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-test" });
    const model = await client.models.get("echo");
    expect(model.capabilities?.tools).toBe(true);
    expect(model.context_window).toBe(8192);
  });

  it("ends the session when the account is suspended", async () => {
    const fake = fakeServer({
      "GET /api/v1/users/me": () => problem(403, "This account is suspended. Contact your administrator."),
    });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens", onSessionEnded: ended });
    client.auth.useTokens(PAIR(1));
    const error = (await client.users.me().catch((e: unknown) => e)) as ParleySessionEndedError;
    expect(error.reason).toBe("suspended");
    expect(error.isSuspended).toBe(true);
    expect(ended).toHaveBeenCalledWith("suspended", expect.objectContaining({ status: 403 }));
    expect(client.session.accessToken).toBeNull();
  });

  it("ends the session as suspended when the refresh says so", async () => {
    const fake = fakeServer({
      "GET /api/v1/users/me": () => problem(401, "expired"),
      "POST /api/v1/auth/refresh": () => problem(403, "This account is suspended. Contact your administrator."),
    });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens", onSessionEnded: ended });
    client.auth.useTokens(PAIR(1));
    await expect(client.users.me()).rejects.toBeInstanceOf(ParleySessionEndedError);
    expect(ended.mock.calls[0]?.[0]).toBe("suspended");
  });

  it("a 403 that is not a suspension stays an ordinary error", async () => {
    const fake = fakeServer({ "GET /api/v1/admin/users": () => problem(403, "Administrators only") });
    const ended = vi.fn();
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens", onSessionEnded: ended });
    client.auth.useTokens(PAIR(1));
    await expect(client.admin.users()).rejects.toBeInstanceOf(ParleyApiError);
    expect(ended).not.toHaveBeenCalled();
    expect(client.session.accessToken).toBe("access-1");
  });

  it("builds query strings without empty values", () => {
    const client = new ParleyClient({ baseUrl: "https://chat.example.com/" });
    expect(client.url("/api/v1/conversations", { q: "hello world", archived: false, cursor: undefined, limit: 20 })).toBe(
      "https://chat.example.com/api/v1/conversations?q=hello+world&archived=false&limit=20",
    );
  });
});
