"""Reading, downloading, listing and deleting files: byte-identical downloads served safely, another user's
file is "not found" everywhere, and deleting removes the row, the extracted chunks and the stored bytes."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import unquote

from sqlalchemy import func, select, update

from parley.auth.permissions import Role
from parley.models import File, FileChunk
from parley.storage import StorageNotFound
from tests.factories import assert_problem, signed_in_user
from tests.files import documents
from tests.files.helpers import FILES, uploaded


class TestDownload:
    async def test_a_download_is_byte_identical_with_the_stored_type_as_an_attachment(self, app, client):
        user = await signed_in_user(app, client)
        for data, name, mime in [
            (documents.pdf_bytes(), "report.pdf", "application/pdf"),
            (
                documents.docx_bytes(),
                "notes.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
        ]:
            body = await uploaded(client, user, data, name)
            response = await client.get(f"{FILES}/{body['id']}/content", headers=user.headers)

            assert response.status_code == 200
            assert response.content == data
            assert response.headers["content-type"] == mime
            assert response.headers["content-disposition"].startswith("attachment;")
            assert f'filename="{name}"' in response.headers["content-disposition"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["content-length"] == str(len(data))

    async def test_a_large_file_streams_back_whole(self, app, client):
        user = await signed_in_user(app, client)
        data = ("line of text\n" * 400_000).encode()  # 5 MB: many storage chunks
        body = await uploaded(client, user, data, "big.txt")
        response = await client.get(f"{FILES}/{body['id']}/content", headers=user.headers)
        assert response.content == data
        assert response.headers["content-type"] == "text/plain; charset=utf-8"

    async def test_a_non_ascii_name_is_offered_exactly_with_an_ascii_fallback(self, app, client):
        user = await signed_in_user(app, client)
        name = "Über Straße; résumé.txt"
        body = await uploaded(client, user, b"text", name)
        disposition = (await client.get(f"{FILES}/{body['id']}/content", headers=user.headers)).headers[
            "content-disposition"
        ]
        assert body["filename"] == name
        assert 'filename="_ber Stra_e; r_sum_.txt"' in disposition
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == name

    async def test_an_html_file_is_served_sandboxed(self, app, client):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"<html><script>alert(document.cookie)</script></html>", "x.html")
        response = await client.get(f"{FILES}/{body['id']}/content", headers=user.headers)
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["content-disposition"].startswith("attachment;")

    async def test_missing_stored_bytes_are_a_404_not_a_broken_download(self, app, client):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"soon gone")
        await app.state.storage.delete(f"uploads/{body['id']}")
        problem = assert_problem(await client.get(f"{FILES}/{body['id']}/content", headers=user.headers), 404)
        assert "no longer stored" in problem["detail"]


class TestReading:
    async def test_a_file_reads_back_with_its_status(self, app, client):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"text")
        response = await client.get(f"{FILES}/{body['id']}", headers=user.headers)
        assert response.status_code == 200
        read = response.json()
        assert read["id"] == body["id"] and read["status"] in ("pending", "processing", "ready", "failed")

    async def test_other_users_and_admins_get_404_everywhere_and_nothing_changes(self, app, client):
        owner = await signed_in_user(app, client)
        body = await uploaded(client, owner, b"private")
        for intruder in (await signed_in_user(app, client), await signed_in_user(app, client, role=Role.ADMIN)):
            for method, path in [
                ("GET", f"{FILES}/{body['id']}"),
                ("GET", f"{FILES}/{body['id']}/content"),
                ("DELETE", f"{FILES}/{body['id']}"),
            ]:
                response = await client.request(method, path, headers=intruder.headers)
                assert "private" not in response.text
                assert_problem(response, 404)
            assert (await client.get(FILES, headers=intruder.headers)).json()["items"] == []
        download = await client.get(f"{FILES}/{body['id']}/content", headers=owner.headers)
        assert download.content == b"private"

    async def test_an_unknown_id_is_404(self, app, client):
        user = await signed_in_user(app, client)
        assert_problem(await client.get(f"{FILES}/{uuid.uuid4()}", headers=user.headers), 404)


class TestListing:
    async def test_my_files_newest_first_page_by_page(self, app, client):
        user = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        await uploaded(client, other, b"not mine")
        ids = [(await uploaded(client, user, f"file {n}".encode(), f"f{n}.txt"))["id"] for n in range(5)]

        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(FILES, params=params, headers=user.headers)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))

    async def test_filters_by_conversation_and_status(self, app, client, session):
        user = await signed_in_user(app, client)
        conversation = (await client.post("/api/v1/conversations", json={}, headers=user.headers)).json()
        in_chat = await uploaded(client, user, b"in chat", conversation_id=conversation["id"])
        loose = await uploaded(client, user, b"loose")
        await session.execute(update(File).where(File.id == uuid.UUID(loose["id"])).values(status="failed"))
        await session.commit()

        by_chat = await client.get(FILES, params={"conversation_id": conversation["id"]}, headers=user.headers)
        assert [f["id"] for f in by_chat.json()["items"]] == [in_chat["id"]]
        failed = await client.get(FILES, params={"status": "failed"}, headers=user.headers)
        assert [f["id"] for f in failed.json()["items"]] == [loose["id"]]
        assert_problem(await client.get(FILES, params={"status": "exploded"}, headers=user.headers), 422)
        assert_problem(await client.get(FILES, params={"cursor": "garbage!"}, headers=user.headers), 422)


class TestDelete:
    async def test_delete_removes_the_row_the_chunks_and_the_stored_bytes(self, app, client, session):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"to be deleted")
        file_id = uuid.UUID(body["id"])
        session.add(FileChunk(file_id=file_id, user_id=user.id, chunk_index=0, text="to be deleted", token_count=3))
        await session.commit()

        response = await client.delete(f"{FILES}/{body['id']}", headers=user.headers)

        assert response.status_code == 204
        assert_problem(await client.get(f"{FILES}/{body['id']}", headers=user.headers), 404)
        chunks = await session.scalar(select(func.count()).select_from(FileChunk).where(FileChunk.file_id == file_id))
        assert chunks == 0
        # The bytes go by a job committed with the deletion, woken right after it (behind the upload's own
        # ingestion job on a busy machine: seconds, not minutes).
        deadline = time.monotonic() + 30
        while True:
            try:
                await app.state.storage.get(f"uploads/{body['id']}")
            except StorageNotFound:
                break
            assert time.monotonic() < deadline, "the stored bytes were not removed"
            await asyncio.sleep(0.05)

    async def test_deleting_twice_is_404_the_second_time(self, app, client):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"once")
        assert (await client.delete(f"{FILES}/{body['id']}", headers=user.headers)).status_code == 204
        assert_problem(await client.delete(f"{FILES}/{body['id']}", headers=user.headers), 404)
