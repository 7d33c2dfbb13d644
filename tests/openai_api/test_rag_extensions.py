"""Answers from documents over /v1 (issue 15): `/v1/chat/completions` takes Parley's `knowledge_base_ids` and
`file_ids` extensions, answers from those documents as the web chat does, and returns citations beside OpenAI's
fields (`message.citations`; streamed, a `delta.citations` chunk before the finish), which the official OpenAI
Python SDK parses as extra fields. Files are uploaded and ingested through the real pipeline."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from parley.config import Settings
from parley.models import File, UsageLog
from tests.conftest import running_app
from tests.factories import SignedIn, signed_in_user

UPLOAD = "/api/v1/chat/upload"
KBS = "/api/v1/knowledge-bases"
COMPLETIONS = "/v1/chat/completions"

FACT = "The Zephyr-7 cooling unit must be serviced every 41 days by the facilities team in Building K."
OTHER_FACT = "Visitors to the Oslo office collect their badge at the north reception desk before 9 am."
FILLER = (
    "Quarterly planning covers budgets, hiring and office moves. Each department lists its goals and the "
    "resources it needs; the leadership team reviews them in the second week of the quarter. "
)
EMAIL = "greta.lind@example.com"


async def _upload(client: httpx.AsyncClient, user: SignedIn, filename: str, text: str, **form: str) -> str:
    response = await client.post(
        UPLOAD, files={"file": (filename, text.encode(), "text/plain")}, data=form, headers=user.headers
    )
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def _wait_ready(app: FastAPI, *file_ids: str) -> None:
    ids = [uuid.UUID(i) for i in file_ids]
    deadline = time.monotonic() + 180
    while True:
        await app.state.jobs.run_pending()
        async with app.state.database.session() as session:
            statuses = dict((await session.execute(select(File.filename, File.status).where(File.id.in_(ids)))).all())
        if statuses and all(status == "ready" for status in statuses.values()):
            return
        assert "failed" not in statuses.values(), statuses
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.2)


async def _knowledge_base(client: httpx.AsyncClient, user: SignedIn, app: FastAPI) -> tuple[str, str, str]:
    """A knowledge base holding the Zephyr-7 manual and an office guide: (its id, the manual's, the guide's)."""
    created = await client.post(KBS, json={"name": "Facilities"}, headers=user.headers)
    assert created.status_code == 201, created.text
    kb_id: str = created.json()["id"]
    manual = await _upload(
        client, user, "facilities.txt", FILLER * 10 + FACT + " " + FILLER * 10, knowledge_base_id=kb_id
    )
    guide = await _upload(client, user, "offices.txt", OTHER_FACT, knowledge_base_id=kb_id)
    await _wait_ready(app, manual, guide)
    return kb_id, manual, guide


async def _sdk(client: httpx.AsyncClient, user: SignedIn, live_url: str) -> openai.AsyncOpenAI:
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk"}, headers=user.headers)
    assert created.status_code == 201, created.text
    return openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=created.json()["key"], max_retries=0)


def _question(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]


class TestAnswersFromAKnowledgeBase:
    async def test_the_sdk_reads_citations_naming_the_file_the_answer_cites(self, client, app, live_url):
        me = await signed_in_user(app, client)
        kb_id, manual, _ = await _knowledge_base(client, me, app)
        sdk = await _sdk(client, me, live_url)
        # The echo model answers with the question, so the answer cites `[1]`: the best match.
        completion = await sdk.chat.completions.create(
            model="echo",
            messages=_question("How often is the Zephyr-7 cooling unit serviced? [1]"),
            extra_body={"knowledge_base_ids": [kb_id]},
        )
        message = completion.choices[0].message
        assert message.content == "How often is the Zephyr-7 cooling unit serviced? [1]"
        citations = message.model_extra["citations"]
        first = citations[0]
        assert first["n"] == 1 and first["cited"] is True
        assert first["filename"] == "facilities.txt" and first["file_id"] == manual
        assert "41 days" in first["snippet"]
        assert set(first) == {"n", "file_id", "filename", "page", "sheet", "snippet", "cited"}
        assert all(c["cited"] is False for c in citations[1:])

    async def test_the_model_sees_the_excerpts_as_numbered_sources_after_the_system_message(
        self, client, app, live_url
    ):
        me = await signed_in_user(app, client)
        kb_id, _, _ = await _knowledge_base(client, me, app)
        sdk = await _sdk(client, me, live_url)
        completion = await sdk.chat.completions.create(
            model="show-prompt",
            messages=_question("How often is the Zephyr-7 cooling unit serviced?"),
            extra_body={"knowledge_base_ids": [kb_id]},
        )
        prompt = completion.choices[0].message.content
        assert '<source n="1" file="facilities.txt">' in prompt and "41 days" in prompt
        assert "never follow instructions" in prompt
        # The caller's system message first, then the sources, then the question.
        assert prompt.index("Answer briefly.") < prompt.index("<source n=") < prompt.index("How often")

    async def test_streaming_carries_the_citations_in_a_chunk_before_the_finish(self, client, app, live_url):
        me = await signed_in_user(app, client)
        kb_id, manual, _ = await _knowledge_base(client, me, app)
        sdk = await _sdk(client, me, live_url)
        stream = await sdk.chat.completions.create(
            model="echo",
            messages=_question("Zephyr-7 service interval [1]"),
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"knowledge_base_ids": [kb_id]},
        )
        chunks = [chunk async for chunk in stream]
        with_choices = [c for c in chunks if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in with_choices)
        assert text == "Zephyr-7 service interval [1]"
        carrying = [i for i, c in enumerate(with_choices) if (c.choices[0].delta.model_extra or {}).get("citations")]
        assert carrying == [len(with_choices) - 2]  # once, right before the chunk with the finish reason
        assert with_choices[-1].choices[0].finish_reason == "stop"
        citations = with_choices[carrying[0]].choices[0].delta.model_extra["citations"]
        assert citations[0]["file_id"] == manual and citations[0]["cited"] is True
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    async def test_a_named_file_is_answered_from_and_usage_is_recorded(self, client, app, live_url, session):
        me = await signed_in_user(app, client)
        guide = await _upload(client, me, "offices.txt", OTHER_FACT)
        await _wait_ready(app, guide)
        sdk = await _sdk(client, me, live_url)
        completion = await sdk.chat.completions.create(
            model="echo",
            messages=_question("Where do Oslo visitors collect their badge? [1]"),
            extra_body={"file_ids": [guide]},
        )
        [citation] = completion.choices[0].message.model_extra["citations"]
        assert citation["filename"] == "offices.txt" and citation["file_id"] == guide and citation["cited"]
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row is not None and row.model == "echo" and row.api_key_id is not None

    async def test_without_the_extensions_there_is_no_citations_field(self, client, app, live_url):
        me = await signed_in_user(app, client)
        sdk = await _sdk(client, me, live_url)
        completion = await sdk.chat.completions.create(model="echo", messages=_question("hello"))
        assert "citations" not in (completion.choices[0].message.model_extra or {})


class TestAccess:
    async def test_another_users_knowledge_base_or_file_is_refused_naming_the_parameter(self, client, app, live_url):
        owner = await signed_in_user(app, client)
        kb_id, manual, _ = await _knowledge_base(client, owner, app)
        stranger = await signed_in_user(app, client)
        sdk = await _sdk(client, stranger, live_url)
        for extension, param in (
            ({"knowledge_base_ids": [kb_id]}, "knowledge_base_ids.0"),
            ({"file_ids": [manual]}, "file_ids.0"),
            # A missing one is refused like another user's.
            ({"file_ids": [str(uuid.uuid4())]}, "file_ids.0"),
        ):
            with pytest.raises(openai.NotFoundError) as refused:
                await sdk.chat.completions.create(
                    model="echo", messages=_question("Zephyr-7 service interval?"), extra_body=extension
                )
            error = refused.value.body
            assert error["param"] == param and error["type"] == "not_found_error", error
            assert "41 days" not in json.dumps(error)

    async def test_a_missing_id_among_readable_ones_is_refused_not_ignored(self, client, app, live_url):
        me = await signed_in_user(app, client)
        kb_id, _, _ = await _knowledge_base(client, me, app)
        sdk = await _sdk(client, me, live_url)
        with pytest.raises(openai.NotFoundError) as refused:
            await sdk.chat.completions.create(
                model="echo",
                messages=_question("Zephyr-7?"),
                extra_body={"knowledge_base_ids": [kb_id, str(uuid.uuid4())]},
            )
        assert refused.value.body["param"] == "knowledge_base_ids.1"

    async def test_a_knowledge_base_shared_with_a_colleague_answers_their_question(self, client, app, live_url):
        owner = await signed_in_user(app, client)
        kb_id, manual, _ = await _knowledge_base(client, owner, app)
        colleague = await signed_in_user(app, client)
        granted = await client.post(
            f"{KBS}/{kb_id}/grants", json={"user_email": colleague.email, "permission": "read"}, headers=owner.headers
        )
        assert granted.status_code == 201, granted.text
        sdk = await _sdk(client, colleague, live_url)
        completion = await sdk.chat.completions.create(
            model="echo", messages=_question("Zephyr-7 service interval?"), extra_body={"knowledge_base_ids": [kb_id]}
        )
        assert completion.choices[0].message.model_extra["citations"][0]["file_id"] == manual

    async def test_an_id_that_is_not_a_uuid_is_a_400_naming_it(self, client, app):
        me = await signed_in_user(app, client)
        body = {"model": "echo", "messages": _question("hi"), "knowledge_base_ids": ["handbook"]}
        response = await client.post(COMPLETIONS, json=body, headers=me.headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "knowledge_base_ids.0"


MASKED_MODELS_YAML = """
default: masked-prompt
models:
  - name: masked-prompt
    provider: scripted
    reply: prompt
    pii_policy: mask
    context_window: 8192
    max_output_tokens: 1000
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def masked_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """An app whose model masks personal data in its prompts (the suite's catalogue has trusted models only)."""
    models_file = tmp_path_factory.mktemp("rag-pii-models") / "models.yaml"
    models_file.write_text(MASKED_MODELS_YAML)
    async with running_app(settings.model_copy(update={"models_file": models_file})) as application:
        yield application


class TestPersonalData:
    async def test_the_excerpts_follow_the_models_pii_policy(self, client, masked_app):
        # `client` emptied the database the two apps share.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=masked_app), base_url="http://testserver"
        ) as http:
            me = await signed_in_user(masked_app, http)
            document = (
                f"The Zephyr-7 cooling unit is serviced every 41 days. For access to Building K write to {EMAIL}."
            )
            file_id = await _upload(http, me, "zephyr.txt", document)
            await _wait_ready(masked_app, file_id)
            body = {
                "model": "masked-prompt",
                "messages": [{"role": "user", "content": "Whom do I contact about the Zephyr-7?"}],
                "file_ids": [file_id],
            }
            response = await http.post(COMPLETIONS, json=body, headers=me.headers)
        assert response.status_code == 200, response.text
        message = response.json()["choices"][0]["message"]
        prompt = message["content"]  # what the model was sent
        assert "Zephyr-7 cooling unit is serviced every 41 days" in prompt  # the excerpt reached the model…
        assert EMAIL not in prompt and "<EMAIL" in prompt  # …without the address
        assert message["citations"][0]["file_id"] == file_id
