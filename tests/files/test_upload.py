"""Uploading: the content decides the type, the plan decides the size, and every refusal is a clear 4xx that
leaves nothing behind (no row, no stored bytes, no job)."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from sqlalchemy import select

from parley.db import Database
from parley.models import File, Job, KnowledgeBase, KnowledgeBaseFile, User
from tests.factories import assert_problem, signed_in_user
from tests.files import documents
from tests.files.helpers import UPLOAD, count_rows, stored_objects, upload, uploaded

MIB = 1024 * 1024
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

ACCEPTED = [
    ("report.pdf", documents.pdf_bytes(), "pdf", "application/pdf"),
    ("notes.docx", documents.docx_bytes(), "docx", DOCX),
    (
        "figures.xlsx",
        documents.xlsx_bytes(),
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "deck.pptx",
        documents.pptx_bytes(),
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("readme.txt", "Plain words, naïve café.".encode(), "txt", "text/plain"),
    ("bom.txt", b"\xef\xbb\xbfText with a byte-order mark", "txt", "text/plain"),
    ("guide.md", b"# Guide\n\n- step one\n", "md", "text/markdown"),
    ("table.csv", b"region,revenue\nnorth,120\n", "csv", "text/csv"),
    ("page.html", b"<!doctype html><html><body><p>Hi</p></body></html>", "html", "text/html"),
    ("data.json", b'{"a": [1, 2, 3]}', "json", "application/json"),
    ("script.py", b"def main() -> None:\n    print('hi')\n", "code", "text/plain"),
    ("Makefile", b"all:\n\techo hi\n", "code", "text/plain"),
    # Decided by content where the name says nothing (or the wrong thing).
    ("payload", b'[{"id": 1}]', "json", "application/json"),
    ("index", b"<html><head></head><body>x</body></html>", "html", "text/html"),
    ("BMW fleet.txt", b"BMW fleet report: 12 cars", "txt", "text/plain"),  # "BM" is also a bitmap's magic
    ("scan.txt", documents.pdf_bytes(), "pdf", "application/pdf"),
]


async def nothing_was_kept(app, before: set) -> None:
    assert await count_rows(app, File) == 0, "a refused upload left a files row"
    assert await count_rows(app, Job) == 0, "a refused upload left a job"
    assert stored_objects(app) == before, "a refused upload left stored bytes"


class TestAcceptedTypes:
    @pytest.mark.parametrize(("filename", "data", "file_type", "mime_type"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
    async def test_the_type_is_decided_by_the_content(self, app, client, filename, data, file_type, mime_type):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, data, filename)

        assert (body["file_type"], body["mime_type"]) == (file_type, mime_type)
        assert body["filename"] == filename and body["file_size"] == len(data)
        assert body["sha256"] == hashlib.sha256(data).hexdigest()
        assert (body["status"], body["chunk_count"], body["conversation_id"]) == ("pending", 0, None)

    async def test_an_upload_queues_its_ingestion_in_the_same_commit(self, app, client):
        user = await signed_in_user(app, client)
        body = await uploaded(client, user, b"some text")
        database: Database = app.state.database
        async with database.session() as session:
            jobs = (await session.scalars(select(Job).where(Job.kind == "ingest_file"))).all()
            stored = await session.get(File, uuid.UUID(body["id"]))
        assert [job.payload for job in jobs] == [{"file_id": body["id"]}]
        assert stored is not None and stored.storage_key == f"uploads/{body['id']}" and stored.user_id == user.id

    async def test_a_path_in_the_filename_is_stripped_and_never_reaches_storage(self, app, client):
        user = await signed_in_user(app, client)
        before = stored_objects(app)
        body = await uploaded(client, user, b"harmless", "../../../etc/cron.d/evil.txt")

        assert body["filename"] == "evil.txt"
        root = app.state.storage.root
        assert stored_objects(app) - before == {root / "uploads" / body["id"]}

    async def test_an_upload_into_the_users_own_conversation_is_linked_to_it(self, app, client):
        user = await signed_in_user(app, client)
        conversation = (await client.post("/api/v1/conversations", json={}, headers=user.headers)).json()
        body = await uploaded(client, user, b"context", conversation_id=conversation["id"])
        assert body["conversation_id"] == conversation["id"]

    async def test_an_upload_into_the_users_own_knowledge_base_becomes_a_member(self, app, client, session):
        user = await signed_in_user(app, client)
        knowledge_base = KnowledgeBase(owner_id=user.id, name="Handbook")
        session.add(knowledge_base)
        await session.commit()

        body = await uploaded(client, user, b"policy text", knowledge_base_id=str(knowledge_base.id))

        members = await session.scalars(
            select(KnowledgeBaseFile.file_id).where(KnowledgeBaseFile.knowledge_base_id == knowledge_base.id)
        )
        assert [str(m) for m in members] == [body["id"]]


REFUSED = [
    ("exe renamed pdf", "invoice.pdf", documents.windows_executable(), 415, "x-msdownload"),
    ("binary named txt", "notes.txt", bytes(range(256)) * 8, 415, "binary"),
    ("empty file", "empty.txt", b"", 422, "empty"),
    ("invalid JSON", "data.json", b'{"a": 1,,}', 422, "not valid JSON"),
    ("text named pdf", "report.pdf", b"just some text", 415, ".pdf"),
    ("zip bomb docx", "bomb.docx", documents.zip_bomb_docx(), 422, "suspiciously well"),
    ("forged huge docx", "huge.docx", documents.lying_size_docx(600 * MIB), 422, "expand to"),
    ("nested zip in docx", "nested.docx", documents.nested_zip_docx(), 422, "nested archive"),
    ("too many parts", "parts.docx", documents.too_many_parts_docx(10_001), 422, "parts"),
    ("plain zip renamed docx", "archive.docx", documents.plain_zip(), 415, "not an Office document"),
    ("legacy .doc", "old.doc", documents.LEGACY_OLE, 415, "legacy Office"),
    ("truncated docx", "cut.docx", documents.docx_bytes()[:5000], 422, "damaged"),
]


class TestRefusedUploads:
    @pytest.mark.parametrize(("label", "filename", "data", "status", "says"), REFUSED, ids=[r[0] for r in REFUSED])
    async def test_malicious_or_broken_files_are_refused_and_leave_nothing(
        self, app, client, label, filename, data, status, says
    ):
        user = await signed_in_user(app, client)
        before = stored_objects(app)

        problem = assert_problem(await upload(client, user, data, filename), status)

        assert says in problem["detail"], problem
        await nothing_was_kept(app, before)

    async def test_a_file_over_the_plans_limit_is_413_and_a_bigger_plan_takes_it(self, app, client, session):
        user = await signed_in_user(app, client)
        before = stored_objects(app)
        eleven_mib = b"a" * (11 * MIB)

        problem = assert_problem(await upload(client, user, eleven_mib, "big.txt"), 413)
        assert "10 MiB" in problem["detail"] and "free" in problem["detail"]
        await nothing_was_kept(app, before)

        account = await session.get(User, user.id)
        assert account is not None
        account.subscription_tier = "pro"
        await session.commit()
        body = await uploaded(client, user, eleven_mib, "big.txt")
        assert body["file_size"] == 11 * MIB

    async def test_an_oversized_body_is_refused_from_its_declared_length_without_reading_it(self, app, client):
        user = await signed_in_user(app, client)
        sent = 0

        async def endless_body():
            nonlocal sent
            for _ in range(1000):
                sent += MIB
                yield b"x" * MIB

        response = await client.post(
            UPLOAD,
            content=endless_body(),
            headers={
                **user.headers,
                "content-type": "multipart/form-data; boundary=b",
                "content-length": str(1000 * MIB),
            },
        )
        assert_problem(response, 413)
        assert sent <= 2 * MIB

    async def test_a_streamed_body_is_cut_off_at_the_limit(self, app, client):
        """No Content-Length (chunked): the upload stops being read soon after the limit, not at its end."""
        user = await signed_in_user(app, client)
        before = stored_objects(app)
        sent = 0

        async def endless_body():
            nonlocal sent
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
            for _ in range(1000):
                sent += MIB
                yield b"x" * MIB

        response = await client.post(
            UPLOAD, content=endless_body(), headers={**user.headers, "content-type": "multipart/form-data; boundary=b"}
        )
        assert_problem(response, 413)
        assert sent <= 12 * MIB
        await nothing_was_kept(app, before)

    async def test_another_users_conversation_is_404_and_leaves_nothing(self, app, client):
        owner = await signed_in_user(app, client)
        intruder = await signed_in_user(app, client)
        conversation = (await client.post("/api/v1/conversations", json={}, headers=owner.headers)).json()
        before = stored_objects(app)

        assert_problem(await upload(client, intruder, b"text", conversation_id=conversation["id"]), 404)
        assert_problem(await upload(client, intruder, b"text", conversation_id=str(uuid.uuid4())), 404)
        await nothing_was_kept(app, before)

    async def test_another_users_knowledge_base_is_404_and_leaves_nothing(self, app, client, session):
        owner = await signed_in_user(app, client)
        intruder = await signed_in_user(app, client)
        knowledge_base = KnowledgeBase(owner_id=owner.id, name="Private")
        session.add(knowledge_base)
        await session.commit()
        before = stored_objects(app)

        assert_problem(await upload(client, intruder, b"text", knowledge_base_id=str(knowledge_base.id)), 404)
        await nothing_was_kept(app, before)


class TestMalformedForms:
    @pytest.mark.parametrize(
        ("label", "kwargs", "status"),
        [
            ("JSON instead of a form", {"json": {"file": "abc"}}, 415),
            ("no body", {}, 415),
            ("form without a file", {"data": {"conversation_id": str(uuid.uuid4())}, "files": {"x": ("a", b"")}}, 422),
            ("unknown field", {"files": {"file": ("a.txt", b"a")}, "data": {"owner": "someone"}}, 422),
            ("file sent as a text field", {"files": {"file": (None, b"abc")}}, 422),
            (
                "conversation id not a uuid",
                {"files": {"file": ("a.txt", b"a")}, "data": {"conversation_id": "nope"}},
                422,
            ),
            ("two files", {"files": [("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))]}, 422),
            (
                "truncated multipart",
                {"content": b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'},
                422,
            ),
        ],
        ids=lambda value: value if isinstance(value, str) else "",
    )
    async def test_a_malformed_form_is_a_clear_4xx(self, app, client, label, kwargs, status):
        user = await signed_in_user(app, client)
        before = stored_objects(app)
        headers = dict(user.headers)
        if "content" in kwargs:
            headers["content-type"] = "multipart/form-data; boundary=b"
        response = await client.post(UPLOAD, headers=headers, **kwargs)
        assert_problem(response, status)
        await nothing_was_kept(app, before)


class TestFailedCommit:
    async def test_bytes_are_removed_when_the_commit_fails(self, app, lenient_files_client, monkeypatch):
        user = await signed_in_user(app, lenient_files_client)
        before = stored_objects(app)
        from sqlalchemy.ext.asyncio import AsyncSession

        real_commit = AsyncSession.commit

        async def failing_commit(self: AsyncSession) -> None:
            if self.info.get("after_commit"):  # the upload's unit of work: it queued the ingestion job
                raise ConnectionResetError("the database went away mid-commit")
            await real_commit(self)

        monkeypatch.setattr(AsyncSession, "commit", failing_commit)
        response = await upload(lenient_files_client, user, b"will not be kept")
        monkeypatch.undo()

        assert_problem(response, 500)
        await nothing_was_kept(app, before)


@pytest.fixture
async def lenient_files_client(app, client):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
