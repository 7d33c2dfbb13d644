/** src/schema.ts is what openapi-typescript makes of the committed openapi.json (the Python suite checks that
 * openapi.json matches the live API): regenerate both with `npm run generate`. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import { expect, it } from "vitest";

it("src/schema.ts is generated from openapi.json", async () => {
  const root = new URL("..", import.meta.url);
  const document = JSON.parse(readFileSync(new URL("openapi.json", root), "utf8"));
  const generated = astToString(await openapiTS(document));
  const committed = readFileSync(fileURLToPath(new URL("src/schema.ts", root)), "utf8");
  const body = (text: string) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim();
  expect(body(committed), "src/schema.ts is stale: run `npm run generate:types` in sdk/typescript").toBe(body(generated));
}, 30_000);
