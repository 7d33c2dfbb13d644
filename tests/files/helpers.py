from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from parley.db import Database
from parley.models import File, Job
from parley.storage.local import LocalStorage
from tests.factories import SignedIn

UPLOAD = "/api/v1/chat/upload"
FILES = "/api/v1/files"


async def upload(
    client: httpx.AsyncClient,
    user: SignedIn,
    data: bytes,
    filename: str = "notes.txt",
    *,
    content_type: str = "application/octet-stream",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        UPLOAD, files={"file": (filename, data, content_type)}, data=fields or None, headers=user.headers
    )


async def uploaded(
    client: httpx.AsyncClient, user: SignedIn, data: bytes, filename: str = "notes.txt", **fields: str
) -> dict[str, Any]:
    response = await upload(client, user, data, filename, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def stored_objects(app: FastAPI) -> set[Path]:
    """Every stored upload's file under the local storage root."""
    # The backend under the encryption (README, "Encryption at rest"): the files as they are on disk.
    storage = app.state.storage.inner
    assert isinstance(storage, LocalStorage)
    return {path for path in storage.root.rglob("*") if path.is_file()}


async def count_rows(app: FastAPI, model: type[File] | type[Job]) -> int:
    database: Database = app.state.database
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
