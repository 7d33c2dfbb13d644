import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

const AUDITOR = {
  id: "r1",
  name: "auditor",
  description: "Reads the audit log",
  permissions: ["admin:audit", "profile:read"],
  built_in: false,
  user_count: 0,
  group_count: 0,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
};

describe("roles", () => {
  it("administrators list, create, edit and delete roles", async () => {
    const fake = fakeServer({
      "GET /api/v1/admin/roles": () => json(200, [AUDITOR]),
      "POST /api/v1/admin/roles": (call) => json(201, { ...AUDITOR, ...(call.body as object) }),
      "PATCH /api/v1/admin/roles/r1": (call) => json(200, { ...AUDITOR, ...(call.body as object) }),
      "DELETE /api/v1/admin/roles/r1": () => json(204, null),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(await client.admin.roles()).toEqual([AUDITOR]);
    const created = await client.admin.createRole({ name: "auditor", description: "", permissions: ["admin:audit", "profile:read"] });
    expect(created.permissions).toEqual(["admin:audit", "profile:read"]);
    expect((await client.admin.updateRole("r1", { permissions: ["admin:audit"] })).permissions).toEqual(["admin:audit"]);
    await expect(client.admin.deleteRole("r1")).resolves.toBeUndefined();
    const bodies = Object.fromEntries(fake.calls.map((call) => [`${call.method} ${call.path}`, call.body]));
    expect(bodies["PATCH /api/v1/admin/roles/r1"]).toEqual({ permissions: ["admin:audit"] });
  });

  it("a role still held cannot be deleted: a 409 ParleyApiError with the server's detail", async () => {
    const detail = "the role 'auditor' is held by 2 user(s) and 0 group(s); give them another role first";
    const fake = fakeServer({ "DELETE /api/v1/admin/roles/r1": () => problem(409, detail) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const failure = await client.admin.deleteRole("r1").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ParleyApiError);
    expect((failure as ParleyApiError).status).toBe(409);
    expect((failure as ParleyApiError).message).toBe(detail);
  });
});
