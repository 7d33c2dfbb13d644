import { afterEach, describe, expect, it, vi } from "vitest";
import { ParleyClient, filenameOf } from "../src/client.js";
import type { ChatEvent } from "../src/chat-stream.js";
import { ParleyApiError } from "../src/errors.js";
import { event, fakeServer, json, problem, sse } from "./fake-server.js";

const FILE = {
  id: "f1",
  filename: "report.txt",
  file_type: "txt",
  mime_type: "text/plain",
  file_size: 5,
  status: "pending",
  status_reason: null,
  conversation_id: "c1",
  page_count: null,
  chunk_count: 0,
  created_at: "2026-01-01T00:00:00Z",
};
const KB = { id: "k1", name: "Handbook", description: "", access: "owner", file_count: 0, created_at: "2026-01-01T00:00:00Z" };
const PAIR = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: "bearer", expires_in: 900 });

afterEach(() => vi.unstubAllGlobals());

describe("files", () => {
  it("uploads a multipart form with the conversation and knowledge base", async () => {
    const fake = fakeServer({ "POST /api/v1/chat/upload": () => json(201, FILE) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const record = await client.files.upload(new Blob(["hello"], { type: "text/plain" }), { conversationId: "c1", knowledgeBaseId: "k1" }, "report.txt");
    expect(record).toEqual(FILE);
    const call = fake.calls[0]!;
    expect(call.headers["authorization"]).toBe("Bearer pk-x");
    // the browser sets the multipart boundary: no JSON content type may be forced on it
    expect(call.headers["content-type"]).toBeUndefined();
    expect((call.form?.get("file") as File).name).toBe("report.txt");
    expect(await (call.form?.get("file") as File).text()).toBe("hello");
    expect(call.form?.get("conversation_id")).toBe("c1");
    expect(call.form?.get("knowledge_base_id")).toBe("k1");
  });

  it("leaves out the optional fields and turns 413 problem+json into ParleyApiError", async () => {
    const fake = fakeServer({ "POST /api/v1/chat/upload": () => problem(413, "report.pdf is 12 MiB; your plan allows 10 MiB") });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const error = (await client.files.upload(new File(["x"], "report.pdf")).catch((e: unknown) => e)) as ParleyApiError;
    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error.status).toBe(413);
    expect(error.message).toContain("10 MiB");
    expect(fake.calls[0]?.form?.has("conversation_id")).toBe(false);
    expect((fake.calls[0]?.form?.get("file") as File).name).toBe("report.pdf");
  });

  it("refreshes once on a 401 and sends the upload again", async () => {
    let current = 1;
    const fake = fakeServer({
      "POST /api/v1/auth/refresh": () => json(200, PAIR(++current)),
      "POST /api/v1/chat/upload": (call) =>
        call.headers["authorization"] === `Bearer access-${current}` ? json(201, FILE) : problem(401, "expired"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, session: "tokens" });
    client.auth.useTokens(PAIR(0));
    expect((await client.files.upload(new File(["x"], "a.txt"))).id).toBe("f1");
    expect(fake.calls.map((call) => call.path)).toEqual(["/api/v1/chat/upload", "/api/v1/auth/refresh", "/api/v1/chat/upload"]);
    expect(fake.calls[2]?.form?.get("file")).toBeInstanceOf(File);
  });

  it("reports upload progress through XMLHttpRequest when asked to", async () => {
    const sent: { url: string; headers: Record<string, string>; body: unknown }[] = [];
    class FakeXHR {
      status = 0;
      statusText = "";
      responseText = "";
      private url = "";
      private headers: Record<string, string> = {};
      private listeners: Record<string, (() => void)[]> = {};
      private uploadListeners: ((event: { lengthComputable: boolean; loaded: number; total: number }) => void)[] = [];
      upload = { addEventListener: (_: string, listener: (event: { lengthComputable: boolean; loaded: number; total: number }) => void) => this.uploadListeners.push(listener) };
      open(_method: string, url: string) {
        this.url = url;
      }
      setRequestHeader(name: string, value: string) {
        this.headers[name.toLowerCase()] = value;
      }
      addEventListener(name: string, listener: () => void) {
        (this.listeners[name] ??= []).push(listener);
      }
      getAllResponseHeaders() {
        return "content-type: application/json\r\n";
      }
      abort() {
        this.listeners["abort"]?.forEach((listener) => listener());
      }
      send(body: unknown) {
        sent.push({ url: this.url, headers: this.headers, body });
        setTimeout(() => {
          this.uploadListeners.forEach((listener) => listener({ lengthComputable: true, loaded: 2, total: 4 }));
          this.uploadListeners.forEach((listener) => listener({ lengthComputable: true, loaded: 4, total: 4 }));
          this.status = 201;
          this.responseText = JSON.stringify(FILE);
          this.listeners["load"]?.forEach((listener) => listener());
        }, 1);
      }
    }
    vi.stubGlobal("XMLHttpRequest", FakeXHR);
    const client = new ParleyClient({ baseUrl: "https://chat.example.com", apiKey: "pk-x" });
    const progress: number[] = [];
    const record = await client.files.upload(new File(["abcd"], "a.txt"), { onProgress: (loaded, total) => progress.push(loaded / total) });
    expect(record.id).toBe("f1");
    expect(progress).toEqual([0.5, 1]);
    expect(sent[0]?.url).toBe("https://chat.example.com/api/v1/chat/upload");
    expect(sent[0]?.headers["authorization"]).toBe("Bearer pk-x");
    expect(sent[0]?.body).toBeInstanceOf(FormData);
  });

  it("lists with a cursor, gets, deletes and downloads with the token", async () => {
    const fake = fakeServer({
      "GET /api/v1/files": (call) => json(200, { items: [FILE], next_cursor: call.query.get("cursor") ? null : "next" }),
      "GET /api/v1/files/f1": () => json(200, { ...FILE, status: "ready" }),
      "DELETE /api/v1/files/f1": () => json(204, null),
      "GET /api/v1/files/f1/content": () =>
        new Response("hello", {
          status: 200,
          headers: { "Content-Type": "text/plain", "Content-Disposition": "attachment; filename=\"x.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt" },
        }),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect((await client.files.list({ limit: 10 })).next_cursor).toBe("next");
    expect((await client.files.list({ cursor: "next" })).next_cursor).toBeNull();
    expect(fake.calls[0]?.query.get("limit")).toBe("10");
    expect((await client.files.get("f1")).status).toBe("ready");
    await expect(client.files.delete("f1")).resolves.toBeUndefined();
    const content = await client.files.content("f1");
    expect(await content.blob.text()).toBe("hello");
    expect(content.filename).toBe("résumé.txt");
    expect(content.contentType).toBe("text/plain");
    expect(fake.calls.at(-1)?.headers["authorization"]).toBe("Bearer pk-x");
  });

  it("reads file names from Content-Disposition", () => {
    expect(filenameOf('attachment; filename="a \\"b\\".pdf"')).toBe('a "b".pdf');
    expect(filenameOf("inline; filename=plain.csv")).toBe("plain.csv");
    expect(filenameOf("attachment")).toBeNull();
    expect(filenameOf(null)).toBeNull();
  });
});

describe("knowledge bases", () => {
  it("creates, lists, edits, manages files and grants, and attaches to a conversation", async () => {
    const fake = fakeServer({
      "GET /api/v1/knowledge-bases": () => json(200, { items: [KB], next_cursor: null }),
      "POST /api/v1/knowledge-bases": (call) => json(201, { ...KB, ...(call.body as object) }),
      "PATCH /api/v1/knowledge-bases/k1": (call) => json(200, { ...KB, ...(call.body as object) }),
      "DELETE /api/v1/knowledge-bases/k1": () => json(204, null),
      "GET /api/v1/knowledge-bases/k1/files": () => json(200, { items: [FILE], next_cursor: null }),
      "POST /api/v1/knowledge-bases/k1/files": () => json(201, FILE),
      "DELETE /api/v1/knowledge-bases/k1/files/f1": () => json(204, null),
      "GET /api/v1/knowledge-bases/k1/grants": () => json(200, []),
      "POST /api/v1/knowledge-bases/k1/grants": (call) => json(201, { id: "g1", user_id: "u2", role: null, ...(call.body as object) }),
      "DELETE /api/v1/knowledge-bases/k1/grants/g1": () => json(204, null),
      "GET /api/v1/conversations/c1/knowledge-bases": () => json(200, [KB]),
      "PUT /api/v1/conversations/c1/knowledge-bases/k1": () => json(200, KB),
      "DELETE /api/v1/conversations/c1/knowledge-bases/k1": () => json(204, null),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect((await client.knowledgeBases.list()).items).toEqual([KB]);
    expect((await client.knowledgeBases.create({ name: "Policies", description: "HR" })).name).toBe("Policies");
    expect((await client.knowledgeBases.update("k1", { description: "new" })).description).toBe("new");
    expect((await client.knowledgeBases.files("k1")).items).toEqual([FILE]);
    await client.knowledgeBases.addFile("k1", "f1");
    await client.knowledgeBases.removeFile("k1", "f1");
    expect(await client.knowledgeBases.grants("k1")).toEqual([]);
    const grant = await client.knowledgeBases.grant("k1", { user_email: "bob@example.com", permission: "read" });
    expect(grant.permission).toBe("read");
    await client.knowledgeBases.revokeGrant("k1", "g1");
    await client.knowledgeBases.delete("k1");
    expect(await client.conversations.knowledgeBases("c1")).toEqual([KB]);
    expect(await client.conversations.attachKnowledgeBase("c1", "k1")).toEqual(KB);
    await client.conversations.detachKnowledgeBase("c1", "k1");
    const bodies = Object.fromEntries(fake.calls.map((call) => [`${call.method} ${call.path}`, call.body]));
    expect(bodies["POST /api/v1/knowledge-bases"]).toEqual({ name: "Policies", description: "HR" });
    expect(bodies["POST /api/v1/knowledge-bases/k1/files"]).toEqual({ file_id: "f1" });
    expect(bodies["POST /api/v1/knowledge-bases/k1/grants"]).toEqual({ user_email: "bob@example.com", permission: "read" });
    expect(fake.calls.some((call) => call.method === "PUT" && call.path === "/api/v1/conversations/c1/knowledge-bases/k1")).toBe(true);
  });
});

describe("grounded chat", () => {
  it("sends file and knowledge base ids, yields status events and the done event's citations", async () => {
    const citations = [{ n: 1, file_id: "f1", filename: "report.txt", page: 2, sheet: null, snippet: "the fact", cited: true }];
    const fake = fakeServer({
      "POST /api/v1/chat": () =>
        sse([
          event(1, "message", { conversation_id: "c1", user_message_id: "m1", assistant_message_id: "m2", model: "echo" }),
          event(2, "status", { stage: "reading_files", files: ["report.txt"] }),
          event(3, "status", { stage: "searching" }),
          event(4, "delta", { text: "It is so [1]." }),
          event(5, "done", { message_id: "m2", finish_reason: "stop", model: "echo", usage: { prompt_tokens: 1, completion_tokens: 1 }, cost: "0", citations }),
        ]),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const events: ChatEvent[] = [];
    for await (const item of client.chat.send({ message: "What?", file_ids: ["f1"], knowledge_base_ids: ["k1"] })) events.push(item);
    expect(events.map((e) => e.event)).toEqual(["message", "status", "status", "delta", "done"]);
    const status = events[1];
    expect(status?.event === "status" && status.data.files).toEqual(["report.txt"]);
    const done = events.at(-1);
    expect(done?.event === "done" && done.data.citations).toEqual(citations);
    expect(fake.calls[0]?.body).toEqual({ message: "What?", file_ids: ["f1"], knowledge_base_ids: ["k1"], stream: true });
  });
});
