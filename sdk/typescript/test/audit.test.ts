import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

describe("admin audit trail", () => {
  it("filters the list by action, actor and time", async () => {
    const page = { items: [], total: 0, page: 2, page_size: 25 };
    const fake = fakeServer({ "GET /api/v1/admin/audit-events": () => json(200, page) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(
      await client.admin.auditEvents({ action: "auth.login_failed", since: new Date("2026-12-01T00:00:00Z"), page: 2, page_size: 25 }),
    ).toEqual(page);
    const query = fake.calls.at(-1)?.query;
    expect(query?.get("action")).toBe("auth.login_failed");
    expect(query?.get("since")).toBe("2026-12-01T00:00:00.000Z");
    expect(query?.get("page")).toBe("2");
    expect(query?.has("until")).toBe(false);
  });

  it("downloads the JSON Lines export with its file name, and a refusal is a ParleyApiError", async () => {
    const fake = fakeServer({
      "GET /api/v1/admin/audit-events/export": (call) =>
        call.query.get("action") === "plan.put"
          ? new Response('{"seq":1,"action":"plan.put"}\n', {
              status: 200,
              headers: { "Content-Type": "application/x-ndjson", "Content-Disposition": 'attachment; filename="parley-audit-start-now.jsonl"' },
            })
          : problem(422, "`since` must be before `until`"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const file = await client.admin.auditExport({ action: "plan.put" });
    expect(file.filename).toBe("parley-audit-start-now.jsonl");
    expect(JSON.parse((await file.blob.text()).trim())).toEqual({ seq: 1, action: "plan.put" });
    await expect(client.admin.auditExport({ action: "other" })).rejects.toBeInstanceOf(ParleyApiError);
  });

  it("reads the chain's verification", async () => {
    const verdict = {
      status: "broken",
      summary: "audit chain broken at row #3: row #3 was edited",
      rows: 2,
      head_seq: 5,
      checkpoints: 1,
      verified_checkpoint_seq: null,
      verified_checkpoint_at: null,
      problem: { kind: "edited", seq: 3, event_id: "e-3", message: "row #3 was edited" },
    };
    const fake = fakeServer({ "GET /api/v1/admin/audit-events/verification": () => json(200, verdict) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const found = await client.admin.auditVerification();
    expect(found.problem?.seq).toBe(3);
  });
});
