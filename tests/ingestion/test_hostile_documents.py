"""Files built to exhaust a reader (issue 10, items 2 and 4) end `failed` with a reason a user can act on, in
bounded time and memory, while the server keeps answering: the reader runs in a child process with a memory
ceiling and a time limit, Office parts and PDF content have budgets, and a file yields a bounded number of
chunks."""

from __future__ import annotations

import asyncio
import resource

from sqlalchemy import select, update

from parley.ingestion.tasks import IngestionTask
from parley.jobs.worker import TIME_BUDGET_EXCEEDED
from parley.models import File, FileChunk
from tests.factories import signed_in_user
from tests.files.helpers import upload
from tests.ingestion import documents, hostile
from tests.ingestion.hostile import MIB
from tests.ingestion.stored import pending_file


def _task(app, **files: object) -> IngestionTask:
    settings = app.state.settings
    if files:
        settings = settings.model_copy(update={"files": settings.files.model_copy(update=files)})
    return IngestionTask(app.state.database, app.state.storage, app.state.embedder, settings)


async def _ingest(app, file: File, **files: object) -> File:
    task = _task(app, **files)
    try:
        await task({"file_id": str(file.id)})
    finally:
        task.close()
    async with app.state.database.session() as session:
        stored = await session.get(File, file.id)
        chunks = (await session.scalars(select(FileChunk).where(FileChunk.file_id == file.id))).all()
    assert stored is not None
    assert stored.chunk_count == len(chunks)
    return stored


class TestHostileDocx:
    async def test_a_small_docx_expanding_to_100_mib_of_xml_is_refused_at_upload(self, app, client):
        data = hostile.docx_expanding_to(100)
        # What the review sent: small, and inside today's archive-bomb ratio and total limits.
        assert len(data) < 3 * MIB and hostile.ratio(data) < app.state.settings.files.zip_max_ratio
        user = await signed_in_user(app, client)

        response = await upload(client, user, data, "contract.docx")

        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "word/document.xml" in response.json()["detail"]
        assert "expands to 100 MiB, more than the 32 MiB a part" in response.json()["detail"]

    async def test_one_stored_before_the_upload_check_fails_with_the_reason_without_being_parsed(self, app, client):
        file = await pending_file(app, hostile.docx_expanding_to(40), "docx")

        stored = await _ingest(app, file)

        assert stored.status == "failed"
        assert "word/document.xml expands to 40 MiB, more than the 32 MiB a part may have" in stored.status_reason

    async def test_a_long_plain_docx_is_read_within_a_small_memory_ceiling(self, app, client):
        # 600,000 paragraphs, ~20 MiB of XML: a whole-tree reader needs hundreds of MiB for it; the body is
        # streamed paragraph by paragraph instead.
        file = await pending_file(app, hostile.docx_of_many_paragraphs(600_000), "docx")

        stored = await _ingest(app, file, reading_memory_mib=128)

        assert stored.status == "ready", stored.status_reason
        async with app.state.database.session() as session:
            # Whole rows: their text is sealed at rest and opened as the ORM loads them.
            texts = [c.text for c in await session.scalars(select(FileChunk).where(FileChunk.file_id == file.id))]
        # Every sentence, the last one too: the whole body was read.
        assert "Paragraph 590000 says badges" in "\n".join(texts)


class TestHostilePdf:
    async def test_twelve_pages_sharing_one_4_mib_content_stream_fail_with_the_reason(self, app, client):
        data = hostile.pdf_sharing_one_content_stream(pages=12, stream_mib=4)
        assert len(data) < 64 * 1024
        file = await pending_file(app, data, "pdf")

        stored = await _ingest(app, file)

        assert stored.status == "failed"
        assert "pages draw more than 1024 KiB each and are too complex to read" in stored.status_reason

    async def test_a_reader_past_its_time_limit_is_stopped_while_the_server_answers(self, app, client):
        # The page budget raised out of the way: the time limit alone must stop it.
        file = await pending_file(app, hostile.pdf_sharing_one_content_stream(pages=12, stream_mib=4), "pdf")
        reading = asyncio.create_task(_ingest(app, file, pdf_max_page_content_kib=64 * 1024, reading_timeout_seconds=3))

        while not reading.done():
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(0.2)
        stored = reading.result()

        assert stored.status == "failed"
        assert stored.status_reason.startswith("reading the file took longer than 3 s")

    async def test_pages_over_the_budget_are_left_out_and_the_rest_is_read(self, app, client):
        file = await pending_file(app, documents.pdf(["Badges open every door.", "Lunch is at noon."]), "pdf")

        stored = await _ingest(app, file, pdf_max_pages=1)

        assert stored.status == "ready" and stored.chunk_count == 1
        assert stored.status_reason == "the text was cut at the extraction limit"


class TestMemoryCeiling:
    async def test_a_file_needing_more_memory_than_the_ceiling_fails_and_the_server_does_not_grow(self, app, client):
        data = b"All work and no play makes Jack a dull boy.\n" * (48 * MIB // 44)
        file = await pending_file(app, data, "txt")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

        stored = await _ingest(app, file, reading_memory_mib=32)

        assert stored.status == "failed"
        assert stored.status_reason.startswith("reading the file needs more than 32 MiB of memory")
        # Decoding and tidying 48 MiB of text takes several times that; the child paid for it, not the server.
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before < 100 * MIB

    async def test_a_parser_running_out_inside_its_xml_library_says_memory_not_damaged(self, app, client):
        # libxml2 turns the refused allocation into a parse error; the file is not damaged, it is too big.
        file = await pending_file(app, hostile.pptx_with_a_huge_slide(400_000), "pptx")

        stored = await _ingest(app, file, reading_memory_mib=48)

        assert stored.status == "failed"
        assert stored.status_reason.startswith("reading the file needs more than 48 MiB of memory")


class TestChunkBudget:
    async def test_a_huge_text_is_cut_at_the_chunk_budget_and_says_so(self, app, client):
        paragraph = "Every employee gets twenty-eight days of paid vacation per year, and more after ten years. "
        file = await pending_file(app, (paragraph * 400).encode(), "txt")

        stored = await _ingest(app, file, max_chunks_per_file=3)

        assert stored.status == "ready" and stored.chunk_count == 3
        assert stored.status_reason == "the text was cut at the extraction limit"


class TestJobTimeBudget:
    async def test_a_file_whose_job_ran_past_the_budget_says_so(self, app, client):
        file = await pending_file(app, b"Some text to embed.", "txt")
        async with app.state.database.session() as session:
            await session.execute(update(File).where(File.id == file.id).values(status="processing"))
        budget = app.state.settings.jobs.time_budget_seconds

        await _task(app).give_up({"file_id": str(file.id)}, f"{TIME_BUDGET_EXCEEDED} of {budget:g} s")

        async with app.state.database.session() as session:
            stored = await session.get(File, file.id)
        assert stored is not None and stored.status == "failed"
        assert stored.status_reason.startswith(f"processing the file took longer than {budget:g} s, the limit")
