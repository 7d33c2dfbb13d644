"""The export reads uploads and stores its zip through the storage layer: on local files and on S3 alike, sealed
with the user's data key (encryption at rest), never in plaintext in the store."""

from __future__ import annotations

import io
import json
import zipfile

from parley.gdpr.exports import ExportBuilder, storage_key
from parley.models import UserExport
from parley.storage.encrypted import EncryptedStorage
from tests.factories import signed_in_user
from tests.files.helpers import uploaded
from tests.gdpr.helpers import chat

CANARY = b"s3 canary 5521: the quarterly plan\n" * 40


class TestExportThroughTheStorageLayer:
    async def test_files_in_and_zip_out_through_each_backend_sealed(self, app, client, session, storage):
        sealed = EncryptedStorage(storage, app.state.crypto)
        user = await signed_in_user(app, client)
        await chat(client, user, "hello from the storage test")
        file = await uploaded(client, user, CANARY, "plan.txt")
        # The upload's bytes, in this backend (sealed with the user's key like the app stores them).
        key = f"uploads/{file['id']}"
        await sealed.put(key, await app.state.storage.get(key), content_type="text/plain", owner=user.id)
        # An export the app's own workers do not know about (no job): this builder, on this backend, builds it.
        export = UserExport(user_id=user.id, status="queued")
        session.add(export)
        await session.commit()

        await ExportBuilder(app.state.database, sealed, app.state.settings.gdpr)({"export_id": str(export.id)})

        await session.refresh(export)
        assert export.status == "ready" and export.storage_key == storage_key(user.id, export.id)
        raw = await storage.get(export.storage_key)
        assert b"PK\x03\x04" not in raw[:64] and CANARY[:20] not in raw  # sealed in the store
        archive = zipfile.ZipFile(io.BytesIO(await sealed.get(export.storage_key)))
        listed = json.loads(archive.read("files/files.json"))
        assert listed[0]["included"] is True and archive.read(listed[0]["path"]) == CANARY
        assert any(name.endswith(".md") for name in archive.namelist())
