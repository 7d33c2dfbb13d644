"""OpenAI's Batch API on /v1 with the official OpenAI Python SDK, unchanged: files uploaded and read back, batches
created, run by the job workers over the scripted models, cancelled, listed; bad input files refused naming the
line; another user's files and batches not found; a batch resumed after its worker died runs no line twice."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, update

from parley.batches.service import BATCH_JOB
from parley.config import JobSettings, Settings
from parley.models import Batch, BatchFile, Job, UsageLog
from parley.storage import StorageNotFound
from tests.conftest import _empty_tables, running_app, serve
from tests.factories import PASSWORD, openai_sdk
from tests.plans.arrange import user_on_plan

FINAL = ("completed", "failed", "expired", "cancelled")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def batch_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """An app of its own whose job workers only run when a test says so (`run_pending`): each step of a batch
    happens when the test wants it, not when a background worker gets to it."""
    quiet = settings.model_copy(update={"jobs": JobSettings(workers=0)})
    async with running_app(quiet) as application, serve(application) as url:
        yield application, url


@pytest_asyncio.fixture(loop_scope="session")
async def world(batch_app: tuple[FastAPI, str]) -> AsyncIterator[tuple[FastAPI, str, httpx.AsyncClient]]:
    app, url = batch_app
    await _empty_tables(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield app, url, client


async def _sdk(app: FastAPI, url: str, client: httpx.AsyncClient) -> tuple[Any, openai.AsyncOpenAI]:
    me, _, sdk = await openai_sdk(app, client, url, name="batch")
    return me, sdk


def _jsonl(*requests: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(request).encode() + b"\n" for request in requests)


def _chat_line(custom_id: str, text: str, model: str = "echo") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


async def _upload(sdk: openai.AsyncOpenAI, data: bytes, name: str = "requests.jsonl") -> Any:
    return await sdk.files.create(file=(name, data, "application/jsonl"), purpose="batch")


async def _run(app: FastAPI, sdk: openai.AsyncOpenAI, batch_id: str) -> Any:
    """Run the batch's jobs now, until it is finished."""
    deadline = time.monotonic() + 30
    while True:
        await app.state.jobs.run_pending()
        batch = await sdk.batches.retrieve(batch_id)
        if batch.status in FINAL:
            return batch
        assert time.monotonic() < deadline, batch
        await asyncio.sleep(0.01)


async def _lines(sdk: openai.AsyncOpenAI, file_id: str) -> list[dict[str, Any]]:
    content = await sdk.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines()]


class TestChatBatch:
    async def test_upload_run_and_read_the_results(self, world):
        app, url, client = world
        me, sdk = await _sdk(app, url, client)
        data = _jsonl(_chat_line("first", "hello there"), _chat_line("second", "good night"))
        uploaded = await _upload(sdk, data)
        assert uploaded.id.startswith("file-") and uploaded.object == "file" and uploaded.purpose == "batch"
        assert uploaded.bytes == len(data) and uploaded.filename == "requests.jsonl"
        assert (await sdk.files.retrieve(uploaded.id)).bytes == len(data)
        assert (await sdk.files.content(uploaded.id)).content == data

        batch = await sdk.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"job": "nightly"},
        )
        assert batch.status == "validating" and batch.request_counts.total == 2
        assert batch.metadata == {"job": "nightly"} and batch.input_file_id == uploaded.id

        done = await _run(app, sdk, batch.id)
        assert done.status == "completed" and done.error_file_id is None
        assert done.request_counts.completed == 2 and done.request_counts.failed == 0
        assert done.in_progress_at and done.finalizing_at and done.completed_at
        lines = await _lines(sdk, done.output_file_id)
        assert [line["custom_id"] for line in lines] == ["first", "second"]
        first = lines[0]
        assert first["error"] is None and first["response"]["status_code"] == 200
        assert first["response"]["request_id"].startswith("req_")
        body = first["response"]["body"]
        assert body["object"] == "chat.completion" and "hello there" in body["choices"][0]["message"]["content"]

        output = await sdk.files.retrieve(done.output_file_id)
        assert output.purpose == "batch_output" and output.filename == f"{batch.id}_output.jsonl"
        # Counted in usage, as two requests with the batch's key.
        async with app.state.database.session() as session:
            rows = list(await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id)))
        assert len(rows) == 2 and all(row.api_key_id is not None and row.model == "echo" for row in rows)
        assert done.usage.input_tokens == sum(row.prompt_tokens for row in rows) > 0

        listed = await sdk.batches.list()
        assert [item.id for item in listed.data] == [batch.id]
        files = await sdk.files.list(purpose="batch_output")
        assert [item.id for item in files.data] == [done.output_file_id]

    async def test_a_bad_line_gets_an_error_line_and_the_rest_run(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        data = _jsonl(
            _chat_line("good", "hi"),
            _chat_line("unknown-model", "hi", model="no-such-model"),
            {
                **_chat_line("streamed", "hi"),
                "body": {"model": "echo", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            },
        )
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, data)).id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await _run(app, sdk, batch.id)
        assert done.status == "completed"
        assert (done.request_counts.completed, done.request_counts.failed) == (1, 2)
        errors = {line["custom_id"]: line for line in await _lines(sdk, done.error_file_id)}
        assert errors["unknown-model"]["response"]["status_code"] == 404
        assert errors["unknown-model"]["response"]["body"]["error"]["param"] == "model"
        assert errors["streamed"]["response"]["status_code"] == 400
        assert errors["streamed"]["response"]["body"]["error"]["param"] == "stream"
        assert [line["custom_id"] for line in await _lines(sdk, done.output_file_id)] == ["good"]


class TestEmbeddingsBatch:
    async def test_embeddings_lines(self, world):
        app, url, client = world
        me, sdk = await _sdk(app, url, client)
        data = _jsonl(
            *(
                {"custom_id": f"e{n}", "method": "POST", "url": "/v1/embeddings", "body": {"input": text}}
                for n, text in enumerate(["The cat sat on the mat.", "Quarterly revenue rose."])
            )
        )
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, data)).id, endpoint="/v1/embeddings", completion_window="24h"
        )
        done = await _run(app, sdk, batch.id)
        assert done.status == "completed" and done.request_counts.completed == 2
        lines = await _lines(sdk, done.output_file_id)
        assert [len(line["response"]["body"]["data"][0]["embedding"]) for line in lines] == [384, 384]
        async with app.state.database.session() as session:
            counted = await session.scalar(select(func.count()).select_from(UsageLog).where(UsageLog.user_id == me.id))
        assert counted == 2


class TestRefusals:
    async def test_an_invalid_input_file_is_a_400_naming_its_first_bad_line(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        cases = {
            "line 2": _jsonl(_chat_line("a", "hi"), {"method": "POST", "url": "/v1/chat/completions", "body": {}}),
            "line 3": _jsonl(_chat_line("a", "hi"), _chat_line("b", "hi"), _chat_line("a", "again")),
            "line 1": _jsonl({**_chat_line("a", "hi"), "url": "/v1/embeddings"}),
        }
        cases["line 2 "] = _jsonl(_chat_line("a", "hi")) + b"{not json\n"
        for where, data in cases.items():
            uploaded = await _upload(sdk, data)
            with pytest.raises(openai.BadRequestError) as raised:
                await sdk.batches.create(
                    input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            assert raised.value.body["param"] == "input_file_id"
            assert where.strip() in raised.value.body["message"], raised.value.body
        assert (await sdk.batches.list()).data == []

    async def test_bad_parameters_are_named(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.files.create(file=("a.jsonl", b"{}", "application/jsonl"), purpose="fine-tune")
        assert raised.value.body["param"] == "purpose"
        uploaded = await _upload(sdk, _jsonl(_chat_line("a", "hi")))
        for changed, param in (
            ({"endpoint": "/v1/completions"}, "endpoint"),
            ({"completion_window": "1h"}, "completion_window"),
        ):
            request = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
            with pytest.raises(openai.BadRequestError) as raised:
                await sdk.batches.create(**{**request, **changed})
            assert raised.value.body["param"] == param

    async def test_another_users_files_and_batches_are_not_found(self, world):
        app, url, client = world
        _, owner = await _sdk(app, url, client)
        _, other = await _sdk(app, url, client)
        uploaded = await _upload(owner, _jsonl(_chat_line("a", "hi")))
        batch = await owner.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for attempt in (
            other.files.retrieve(uploaded.id),
            other.files.content(uploaded.id),
            other.files.delete(uploaded.id),
            other.batches.retrieve(batch.id),
            other.batches.cancel(batch.id),
            other.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"),
        ):
            with pytest.raises(openai.NotFoundError):
                await attempt
        assert (await other.files.list()).data == [] and (await other.batches.list()).data == []
        assert (await owner.batches.retrieve(batch.id)).status == "validating"


class TestCancelAndResume:
    async def test_cancelled_before_it_ran(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, _jsonl(_chat_line("a", "hi"), _chat_line("b", "hi")))).id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        cancelling = await sdk.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        done = await _run(app, sdk, batch.id)
        assert done.status == "cancelled" and done.cancelled_at and done.output_file_id is None
        errors = await _lines(sdk, done.error_file_id)
        assert [(line["custom_id"], line["error"]["code"]) for line in errors] == [
            ("a", "batch_cancelled"),
            ("b", "batch_cancelled"),
        ]
        with pytest.raises(openai.ConflictError):
            await sdk.batches.cancel(batch.id)

    async def test_a_batch_resumes_after_its_worker_died_without_running_a_line_twice(self, world):
        app, url, client = world
        me, sdk = await _sdk(app, url, client)
        data = _jsonl(*(_chat_line(f"n{n}", f"line {n}") for n in range(3)))
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, data)).id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        runner = app.state.jobs._handlers[BATCH_JOB]
        real = runner.lines
        calls: list[str] = []

        class DiesOnTheSecondLine:
            async def run(self, principal, endpoint, body):
                text = body["messages"][0]["content"]
                calls.append(text)
                if text == "line 1" and calls.count(text) == 1:
                    raise RuntimeError("the worker died")
                return await real.run(principal, endpoint, body)

        runner.lines = DiesOnTheSecondLine()
        try:
            with pytest.raises(RuntimeError):
                await runner({"batch_id": batch.id.removeprefix("batch_")})
            assert (await sdk.batches.retrieve(batch.id)).request_counts.completed == 1
            await runner({"batch_id": batch.id.removeprefix("batch_")})
        finally:
            runner.lines = real
        done = await sdk.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts.completed == 3
        assert calls == ["line 0", "line 1", "line 1", "line 2"]
        assert [line["custom_id"] for line in await _lines(sdk, done.output_file_id)] == ["n0", "n1", "n2"]
        async with app.state.database.session() as session:
            counted = await session.scalar(select(func.count()).select_from(UsageLog).where(UsageLog.user_id == me.id))
        assert counted == 3

    async def test_deleting_a_file(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        uploaded = await _upload(sdk, _jsonl(_chat_line("a", "hi")))
        deleted = await sdk.files.delete(uploaded.id)
        assert deleted.deleted is True and deleted.id == uploaded.id
        with pytest.raises(openai.NotFoundError):
            await sdk.files.retrieve(uploaded.id)


class TestYourData:
    async def test_export_holds_the_batch_files_and_erasure_removes_them(self, world):
        app, url, client = world
        me, sdk = await _sdk(app, url, client)
        data = _jsonl(_chat_line("a", "hi"))
        uploaded = await _upload(sdk, data, name="mine.jsonl")
        batch = await sdk.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await _run(app, sdk, batch.id)

        started = await client.post("/api/v1/users/me/export", headers=me.headers)
        assert started.status_code == 202, started.text
        await app.state.jobs.run_pending()
        export = (await client.get(f"/api/v1/users/me/exports/{started.json()['id']}", headers=me.headers)).json()
        assert export["status"] == "ready", export
        zipped = await client.get(export["download_url"], headers=me.headers)
        archive = zipfile.ZipFile(io.BytesIO(zipped.content))
        listed = {item["id"]: item for item in json.loads(archive.read("batch-files/files.json"))}
        assert set(listed) == {uploaded.id, done.output_file_id}
        assert listed[uploaded.id]["filename"] == "mine.jsonl" and listed[uploaded.id]["included"]
        assert archive.read(listed[uploaded.id]["path"]) == data

        async with app.state.database.session() as session:
            keys = list(await session.scalars(select(BatchFile.storage_key).where(BatchFile.user_id == me.id)))
        assert len(keys) == 2
        erased = await client.request("DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=me.headers)
        assert erased.status_code == 204, erased.text
        await app.state.jobs.run_pending()
        async with app.state.database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Batch)) == 0
            assert await session.scalar(select(func.count()).select_from(BatchFile)) == 0
        for key in keys:
            with pytest.raises(StorageNotFound):
                await app.state.storage.get(key)


class TestLimits:
    async def test_a_used_up_quota_gives_the_line_the_429s_body(self, world):
        app, url, client = world
        user = await user_on_plan(app, client, "batch-quota", {"tokens_per_day": 0})
        # A batch created with a signed-in session's token runs as that user (no API key).
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=user.access_token, max_retries=0)
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, _jsonl(_chat_line("a", "hi")))).id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        done = await _run(app, sdk, batch.id)
        assert done.status == "completed" and done.request_counts.failed == 1 and done.output_file_id is None
        [line] = await _lines(sdk, done.error_file_id)
        assert line["response"]["status_code"] == 429
        assert line["response"]["body"]["error"]["code"] == "insufficient_quota"

    async def test_a_rate_limited_line_waits_instead_of_failing(self, world):
        app, url, client = world
        user = await user_on_plan(app, client, "batch-rpm", {"requests_per_minute": 1})
        sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=user.access_token, max_retries=0)
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, _jsonl(_chat_line("a", "hi"), _chat_line("b", "hi")))).id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        await app.state.jobs.run_pending()
        waiting = await sdk.batches.retrieve(batch.id)
        assert waiting.status == "in_progress"
        assert (waiting.request_counts.completed, waiting.request_counts.failed) == (1, 0)
        async with app.state.database.session() as session:
            queued = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.kind == BATCH_JOB, Job.status == "queued", Job.run_after > func.now() + timedelta(seconds=5))
            )
        assert queued == 1

    async def test_past_its_window_a_batch_expires_with_the_results_so_far(self, world):
        app, url, client = world
        _, sdk = await _sdk(app, url, client)
        batch = await sdk.batches.create(
            input_file_id=(await _upload(sdk, _jsonl(_chat_line("a", "hi"), _chat_line("b", "hi")))).id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        row_id = uuid.UUID(hex=batch.id.removeprefix("batch_"))
        async with app.state.database.session() as session:
            await session.execute(
                update(Batch).where(Batch.id == row_id).values(expires_at=func.now() - timedelta(hours=1))
            )
        done = await _run(app, sdk, batch.id)
        assert done.status == "expired" and done.expired_at is not None
        errors = await _lines(sdk, done.error_file_id)
        assert [line["error"]["code"] for line in errors] == ["batch_expired", "batch_expired"]
