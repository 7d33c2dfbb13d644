import { describe, expect, it } from "vitest";
import { ParleyClient } from "../src/client.js";
import { ParleyApiError } from "../src/errors.js";
import { fakeServer, json, problem } from "./fake-server.js";

describe("admin analytics", () => {
  it("sends the range as ISO dates and the grouping, and returns the report", async () => {
    const report = { since: "2026-06-01T00:00:00Z", until: "2026-06-30T00:00:00Z", group_by: "model", series: [] };
    const fake = fakeServer({ "GET /api/v1/admin/analytics": () => json(200, report) });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const found = await client.admin.analytics({ from: new Date("2026-06-01T00:00:00Z"), to: "2026-06-30T00:00:00Z", group_by: "model" });
    expect(found).toEqual(report);
    const query = fake.calls.at(-1)?.query;
    expect(query?.get("from")).toBe("2026-06-01T00:00:00.000Z");
    expect(query?.get("to")).toBe("2026-06-30T00:00:00Z");
    expect(query?.get("group_by")).toBe("model");
  });

  it("downloads the chargeback CSV with its file name, and a bad range is a ParleyApiError", async () => {
    const fake = fakeServer({
      "GET /api/v1/admin/analytics.csv": (call) =>
        call.query.get("group_by") === "cost_centre"
          ? new Response("cost_centre,cost_usd\r\nCC-1,0.30\r\n", {
              status: 200,
              headers: { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="parley-analytics-cost_centre.csv"' },
            })
          : problem(422, "from: must be before to"),
    });
    const client = new ParleyClient({ fetch: fake.fetch, apiKey: "pk-x" });
    const file = await client.admin.analyticsCsv({ group_by: "cost_centre" });
    expect(file.filename).toBe("parley-analytics-cost_centre.csv");
    expect(await file.blob.text()).toContain("CC-1,0.30");
    await expect(client.admin.analyticsCsv({ group_by: "day" })).rejects.toBeInstanceOf(ParleyApiError);
  });
});
