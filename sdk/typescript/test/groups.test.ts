import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

const GROUP = {
  id: "g1",
  name: "Sales",
  description: "Field sales",
  member_count: 0,
  created_at: "2026-01-05T10:00:00Z",
  updated_at: "2026-01-05T10:00:00Z",
};
const MEMBER = { user_id: "u2", email: "bob@example.com", name: "Bob", role: "user", is_active: true, added_at: "2026-01-05T10:00:00Z" };
const SUMMARY = { id: "g1", name: "Sales", description: "Field sales", member_count: 1 };

describe("groups", () => {
  it("administrators list, create, edit and delete groups and manage their members", async () => {
    const fake = fakeServer({
      "GET /api/v1/admin/groups": () => json(200, { items: [GROUP], total: 1, page: 1, page_size: 50 }),
      "POST /api/v1/admin/groups": (call) => json(201, { ...GROUP, ...(call.body as object) }),
      "GET /api/v1/admin/groups/g1": () => json(200, GROUP),
      "PATCH /api/v1/admin/groups/g1": (call) => json(200, { ...GROUP, ...(call.body as object) }),
      "DELETE /api/v1/admin/groups/g1": () => json(204, null),
      "GET /api/v1/admin/groups/g1/members": () => json(200, { items: [MEMBER], total: 1, page: 1, page_size: 50 }),
      "POST /api/v1/admin/groups/g1/members": () => json(201, MEMBER),
      "DELETE /api/v1/admin/groups/g1/members/u2": () => json(204, null),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect((await client.admin.groups({ q: "sal", page: 1, page_size: 50 })).items).toEqual([GROUP]);
    expect(fake.calls.at(-1)?.query.get("q")).toBe("sal");
    expect((await client.admin.createGroup({ name: "Sales", description: "Field sales" })).name).toBe("Sales");
    expect(await client.admin.group("g1")).toEqual(GROUP);
    expect((await client.admin.updateGroup("g1", { name: "Sales EMEA" })).name).toBe("Sales EMEA");
    expect((await client.admin.groupMembers("g1", { page: 2 })).items).toEqual([MEMBER]);
    expect(fake.calls.at(-1)?.query.get("page")).toBe("2");
    expect(await client.admin.addGroupMember("g1", { user_email: "bob@example.com" })).toEqual(MEMBER);
    await expect(client.admin.removeGroupMember("g1", "u2")).resolves.toBeUndefined();
    await expect(client.admin.deleteGroup("g1")).resolves.toBeUndefined();
    const bodies = Object.fromEntries(fake.calls.map((call) => [`${call.method} ${call.path}`, call.body]));
    expect(bodies["POST /api/v1/admin/groups"]).toEqual({ name: "Sales", description: "Field sales" });
    expect(bodies["PATCH /api/v1/admin/groups/g1"]).toEqual({ name: "Sales EMEA" });
    expect(bodies["POST /api/v1/admin/groups/g1/members"]).toEqual({ user_email: "bob@example.com" });
  });

  it("a taken name is a 409 ParleyApiError with the server's detail", async () => {
    const fake = fakeServer({ "POST /api/v1/admin/groups": () => problem(409, "a group named Sales already exists") });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const failure = await client.admin.createGroup({ name: "sales", description: "" }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ParleyApiError);
    expect((failure as ParleyApiError).status).toBe(409);
    expect((failure as ParleyApiError).message).toBe("a group named Sales already exists");
  });

  it("every user lists groups to share with, and their own groups; a knowledge base is shared with a group", async () => {
    const fake = fakeServer({
      "GET /api/v1/groups": () => json(200, [SUMMARY]),
      "GET /api/v1/users/me/groups": () => json(200, [SUMMARY]),
      "POST /api/v1/knowledge-bases/k1/grants": (call) =>
        json(201, { id: "gr1", knowledge_base_id: "k1", user_id: null, user_email: null, role: null, group_name: "Sales", created_at: "", ...(call.body as object) }),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(await client.groups.list({ q: "sa", limit: 10 })).toEqual([SUMMARY]);
    expect(fake.calls.at(-1)?.query.toString()).toBe("q=sa&limit=10");
    expect(await client.users.groups()).toEqual([SUMMARY]);
    const grant = await client.knowledgeBases.grant("k1", { group_id: "g1", permission: "read" });
    expect(grant.group_name).toBe("Sales");
    expect(fake.calls.at(-1)?.body).toEqual({ group_id: "g1", permission: "read" });
  });
});
