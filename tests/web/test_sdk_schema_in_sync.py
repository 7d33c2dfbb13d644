"""The TypeScript SDK's committed copy of the API description matches what the app serves, so the SDK's
generated types (sdk/typescript/src/schema.ts, checked against that copy by the SDK's own tests) never drift
from the real API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

COMMITTED = Path(__file__).resolve().parents[2] / "sdk" / "typescript" / "openapi.json"
REGENERATE = "cd sdk/typescript && npm run generate"


async def test_committed_openapi_matches_the_live_app(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert COMMITTED.is_file(), f"{COMMITTED} is missing: run `{REGENERATE}`"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert response.json() == committed, (
        "The API changed but the TypeScript SDK's copy of it did not: run "
        f"`{REGENERATE}` (rewrites sdk/typescript/openapi.json and src/schema.ts), check the SDK still "
        "builds (`npm run build` there) and commit both files"
    )
