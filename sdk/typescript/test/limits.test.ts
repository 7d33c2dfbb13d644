import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

const FREE = { name: "free", limits: { requests_per_minute: 20, tokens_per_day: 200000, models: null } };

describe("plans and limits", () => {
  it("administrators list, put and delete plans, and read the model catalogue", async () => {
    const fake = fakeServer({
      "GET /api/v1/admin/plans": () => json(200, [FREE]),
      "PUT /api/v1/admin/plans/team": (call) => json(201, { name: "team", limits: call.body }),
      "DELETE /api/v1/admin/plans/team": () => json(204, null),
      "GET /api/v1/admin/models": () => json(200, [{ name: "echo", label: null, provider: "scripted" }]),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(await client.admin.plans()).toEqual([FREE]);
    const created = await client.admin.putPlan("team", { tokens_per_day: 5000, models: ["echo"] });
    expect(created).toEqual({ name: "team", limits: { tokens_per_day: 5000, models: ["echo"] } });
    expect(fake.calls.at(-1)?.body).toEqual({ tokens_per_day: 5000, models: ["echo"] });
    await expect(client.admin.deletePlan("team")).resolves.toBeUndefined();
    expect((await client.admin.models()).map((model) => model.name)).toEqual(["echo"]);
  });

  it("deleting a plan users are on is a 409 ParleyApiError with the server's detail", async () => {
    const fake = fakeServer({ "DELETE /api/v1/admin/plans/pro": () => problem(409, "2 user(s) are on the pro plan") });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const failure = await client.admin.deletePlan("pro").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ParleyApiError);
    expect((failure as ParleyApiError).status).toBe(409);
    expect((failure as ParleyApiError).message).toBe("2 user(s) are on the pro plan");
  });

  it("user overrides and group limits are put (only the keys given, null kept) and deleted", async () => {
    const fake = fakeServer({
      "PUT /api/v1/admin/users/u1/limits": (call) => json(200, call.body),
      "DELETE /api/v1/admin/users/u1/limits": () => json(204, null),
      "PUT /api/v1/admin/groups/g1/limits": (call) => json(200, call.body),
      "DELETE /api/v1/admin/groups/g1/limits": () => json(204, null),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    expect(await client.admin.putUserLimits("u1", { tokens_per_day: null })).toEqual({ tokens_per_day: null });
    expect(fake.calls.at(-1)?.body).toEqual({ tokens_per_day: null });
    await expect(client.admin.deleteUserLimits("u1")).resolves.toBeUndefined();
    const group = await client.admin.putGroupLimits("g1", { shared_usd_budget_per_month: 1500 });
    expect(group.shared_usd_budget_per_month).toBe(1500);
    await expect(client.admin.deleteGroupLimits("g1")).resolves.toBeUndefined();
    expect(fake.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      "PUT /api/v1/admin/users/u1/limits",
      "DELETE /api/v1/admin/users/u1/limits",
      "PUT /api/v1/admin/groups/g1/limits",
      "DELETE /api/v1/admin/groups/g1/limits",
    ]);
  });
});
