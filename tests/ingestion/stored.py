"""A file as an upload leaves it for the ingestion job: bytes in storage, row `pending`."""

from __future__ import annotations

import uuid

from parley.models import File
from tests.factories import create_user


async def pending_file(app, data: bytes, file_type: str, *, store: bool = True) -> File:
    """A new user's file of `file_type` holding `data`, not read yet (with `store=False` its bytes are missing).
    Made directly, not uploaded, so it can be one the upload check of today would refuse."""
    owner = await create_user(app)
    key = f"test-ingestion/{uuid.uuid4().hex}"
    if store:
        await app.state.storage.put(key, data, content_type="application/octet-stream")
    async with app.state.database.session() as session:
        file = File(
            id=uuid.uuid4(),
            user_id=owner,
            filename=f"upload.{file_type}",
            file_type=file_type,
            file_size=len(data),
            storage_key=key,
            status="pending",
        )
        session.add(file)
    return file
