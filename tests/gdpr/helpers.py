from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import httpx

from tests.factories import SignedIn

ME = "/api/v1/users/me"


async def chat(client: httpx.AsyncClient, user: SignedIn, message: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/chat", json={"message": message, "stream": False, **extra}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def start_export(client: httpx.AsyncClient, user: SignedIn) -> dict[str, Any]:
    response = await client.post(f"{ME}/export", headers=user.headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def export_when_done(client: httpx.AsyncClient, user: SignedIn, export_id: str) -> dict[str, Any]:
    """Poll the export (built by the app's own job workers) until it is ready or failed."""
    for _ in range(300):
        response = await client.get(f"{ME}/exports/{export_id}", headers=user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("ready", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"export {export_id} not built in 30 s: {body}")


async def downloaded_zip(client: httpx.AsyncClient, user: SignedIn, export: dict[str, Any]) -> zipfile.ZipFile:
    response = await client.get(export["download_url"], headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.content))


async def eventually(check: Any, *, seconds: float = 20.0) -> None:
    """Wait until `check()` (async) is true: for work the app's job workers do in the background."""
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition did not come true in time")
