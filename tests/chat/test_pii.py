"""Personal data in chat (README, "PII"): what the provider is sent under each policy of the model catalogue,
plan or group, and what the user reads back. A scripted provider records every request and streams its answer in
three-character deltas, so placeholders arrive cut in pieces."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.chat.privacy import PromptPrivacy
from parley.config import Settings
from parley.crypto import content as sealed
from parley.crypto import context_of
from parley.llm.base import ChatRequest, TextDelta
from parley.models import Conversation, File, Message
from parley.privacy.settings import PrivacySettings
from tests.conftest import reset_app, running_app
from tests.factories import SignedIn, assert_problem, signed_in_user
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"
COMPLETIONS = "/v1/chat/completions"
MODELS_YAML = """
default: remote
models:
  - name: remote
    provider: scripted
    trusted: false
    reply: echo
  - name: masked
    provider: scripted
    reply: echo
    pii_policy: mask
  - name: blocked
    provider: scripted
    reply: echo
    pii_policy: block
  - name: inhouse
    provider: scripted
    reply: echo
  - name: remote-small
    provider: scripted
    trusted: false
    reply: echo
    context_window: 1200
    max_output_tokens: 256
"""
EMAIL = "anna.schmidt@example.de"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
GERMAN = f"Sehr geehrte Frau Weber, bitte schreiben Sie Herrn Klaus Becker an {EMAIL}, IBAN {IBAN}."
SPANISH = "Hola, me llamo Juan García López; mi DNI es 12345678Z y mi teléfono +34 612 345 678."


@pytest.fixture(scope="session")
def pii_models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pii-config") / "models.yaml"
    path.write_text(MODELS_YAML)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pii_app(settings: Settings, pii_models_file: Path) -> AsyncIterator[FastAPI]:
    models_file = pii_models_file
    async with running_app(settings.model_copy(update={"models_file": models_file})) as application:
        yield application


@dataclass
class Chat:
    app: FastAPI
    http: httpx.AsyncClient
    # What each model's provider was sent (answers only: titles run at temperature 0.2 and are kept apart).
    sent: dict[str, list[ChatRequest]]
    titles: dict[str, list[ChatRequest]]

    async def ask(self, user: SignedIn, message: str, **body: Any) -> tuple[str, dict[str, Any]]:
        response = await self.http.post(CHAT, json={"message": message, **body}, headers=user.headers)
        assert response.status_code == 200, response.text
        events = parse_events(response.text)
        assert not [e for e in events if e.event == "error"], response.text
        return answer_text(events), events[0].data

    def prompt_of(self, model: str, index: int = -1) -> str:
        return "\n".join(m.content for m in self.sent[model][index].messages)


@pytest_asyncio.fixture(loop_scope="session")
async def chat(pii_app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Chat]:
    # `client` has emptied the shared database.
    await reset_app(pii_app)
    sent: dict[str, list[ChatRequest]] = {}
    titles: dict[str, list[ChatRequest]] = {}
    for registered in pii_app.state.models:
        provider = registered.model

        async def stream(request: ChatRequest, original: Any = provider.stream, name: str = registered.config.name):
            is_title = request.params.temperature == 0.2 and request.params.max_tokens == 24
            (titles if is_title else sent).setdefault(name, []).append(request)
            async for event in original(request):
                if type(event) is TextDelta:
                    for start in range(0, len(event.text), 3):
                        yield TextDelta(event.text[start : start + 3])
                else:
                    yield event

        monkeypatch.setattr(provider, "stream", stream)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=pii_app), base_url="http://testserver") as http:
        yield Chat(pii_app, http, sent, titles)
    await pii_app.state.chat_engine.runs.cancel_all("test ended")


async def stored_messages(app: FastAPI, conversation_id: str) -> list[str]:
    async with app.state.database.session() as session:
        rows = await session.execute(
            select(Message.id, Message.content)
            .where(Message.conversation_id == uuid.UUID(conversation_id))
            .order_by(Message.seq)
        )
        # As stored, sealed (README, "Encryption at rest"): opened here.
        return [await sealed.open_text(content, context=sealed.message_context(id_)) for id_, content in rows]


class TestPseudonymise:
    async def test_the_provider_sees_placeholders_and_the_user_reads_the_values(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        question = f"Please pay {CARD} for Anna Schmidt and confirm to {EMAIL}."
        answer, started = await chat.ask(me, question)

        prompt = chat.prompt_of("remote")
        for raw in (CARD, EMAIL, "Anna Schmidt"):
            assert raw not in prompt
        assert "<CARD_1>" in prompt and "<EMAIL_1>" in prompt and "<PERSON_1>" in prompt
        # The echo came back in three-character deltas ("<EM", "AIL", "_1>"…): restored all the same.
        assert answer == question
        conversation_id = started["conversation_id"]
        assert await stored_messages(chat.app, conversation_id) == [question, question]
        # The title's model saw placeholders too; the title reads with the values.
        assert all(EMAIL not in m.content for r in chat.titles.get("remote", []) for m in r.messages)

        # Next turn: the same value gets the same placeholder, in the history and in the new message.
        follow_up = f"Did {EMAIL} answer? Also ask bob.jones@example.org."
        answer, _ = await chat.ask(me, follow_up, conversation_id=conversation_id)
        assert answer == follow_up
        prompt = chat.prompt_of("remote")
        assert EMAIL not in prompt and "bob.jones@example.org" not in prompt
        assert prompt.count("<EMAIL_1>") == 3  # twice in the first turn (question, answer), once now
        assert "<EMAIL_2>" in prompt
        # The map lives with the conversation, sealed with the user's data key: no value readable in the row.
        async with chat.app.state.database.session() as session:
            stored = await session.scalar(
                select(Conversation.pii_mapping).where(Conversation.id == uuid.UUID(conversation_id))
            )
        assert stored is not None
        assert EMAIL.encode() not in stored and b"EMAIL_1" not in stored
        context = context_of("conversations", "pii_mapping", conversation_id)
        opened = json.loads(await chat.app.state.crypto.open(me.id, stored, context=context))
        assert opened["EMAIL_1"] == EMAIL and opened["EMAIL_2"] == "bob.jones@example.org"

    async def test_german_and_spanish_text(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        for text in (GERMAN, SPANISH):
            answer, _ = await chat.ask(me, text)
            assert answer == text
            prompt = chat.prompt_of("remote")
            for raw in (EMAIL, IBAN, "Klaus Becker", "Juan García López", "12345678Z", "+34 612 345 678"):
                assert raw not in prompt


class TestMask:
    async def test_the_provider_never_sees_the_value_and_nothing_is_restored(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        answer, _ = await chat.ask(me, f"Send the invoice to {EMAIL}, IBAN {IBAN}.", model="masked")
        assert EMAIL not in chat.prompt_of("masked") and IBAN not in chat.prompt_of("masked")
        assert answer == "Send the invoice to <EMAIL>, IBAN <IBAN>."


class TestBlock:
    async def test_a_message_with_personal_data_is_refused_naming_the_kinds(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        response = await chat.http.post(
            CHAT, json={"message": f"My card is {CARD}, mail {EMAIL}", "model": "blocked"}, headers=me.headers
        )
        problem = assert_problem(response, 422)
        assert "a payment card number" in problem["detail"] and "an email address" in problem["detail"]
        assert CARD not in response.text and EMAIL not in response.text
        assert "blocked" not in chat.sent
        # Without personal data the same model answers.
        answer, _ = await chat.ask(me, "What is our travel policy?", model="blocked")
        assert answer == "What is our travel policy?"


class TestOverrides:
    async def test_plan_then_group_then_user_override_the_model_policy(self, chat: Chat) -> None:
        admin = await signed_in_user(chat.app, chat.http, role=Role.ADMIN)
        me = await signed_in_user(chat.app, chat.http)
        question = f"Write to {EMAIL}."
        # The catalogue trusts `inhouse` (in-process): sent as written.
        await chat.ask(me, question, model="inhouse")
        assert EMAIL in chat.prompt_of("inhouse")

        plans = await chat.http.get("/api/v1/admin/plans", headers=admin.headers)
        free = next(p for p in plans.json() if p["name"] == "free")["limits"]
        response = await chat.http.put(
            "/api/v1/admin/plans/free", json={**free, "pii_policy": "block"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["limits"]["pii_policy"] == "block"
        refused = await chat.http.post(CHAT, json={"message": question, "model": "inhouse"}, headers=me.headers)
        assert "an email address" in assert_problem(refused, 422)["detail"]

        # A group's policy replaces the plan's for its members.
        group = await chat.http.post("/api/v1/admin/groups", json={"name": "Support"}, headers=admin.headers)
        group_id = group.json()["id"]
        added = await chat.http.post(
            f"/api/v1/admin/groups/{group_id}/members", json={"user_id": str(me.id)}, headers=admin.headers
        )
        assert added.status_code == 201, added.text
        limits = await chat.http.put(
            f"/api/v1/admin/groups/{group_id}/limits", json={"pii_policy": "mask"}, headers=admin.headers
        )
        assert limits.status_code == 200, limits.text
        answer, _ = await chat.ask(me, question, model="inhouse")
        assert answer == "Write to <EMAIL>."
        assert EMAIL not in chat.prompt_of("inhouse")

        # The user's own override wins over the group's and the plan's.
        own = await chat.http.put(
            f"/api/v1/admin/users/{me.id}/limits", json={"pii_policy": "off"}, headers=admin.headers
        )
        assert own.status_code == 200, own.text
        answer, _ = await chat.ask(me, question, model="inhouse")
        assert answer == question and EMAIL in chat.prompt_of("inhouse")

    async def test_an_unknown_policy_is_a_422(self, chat: Chat) -> None:
        admin = await signed_in_user(chat.app, chat.http, role=Role.ADMIN)
        response = await chat.http.put("/api/v1/admin/plans/team", json={"pii_policy": "hide"}, headers=admin.headers)
        assert_problem(response, 422)


class TestOpenAICompatible:
    """/v1/chat/completions applies the same policies, with a pseudonym map of the request's own."""

    async def test_streamed_completion_is_restored(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        question = f"Please ask John Smith to forward {IBAN} to {EMAIL}."
        body = {"model": "remote", "stream": True, "messages": [{"role": "user", "content": question}]}
        response = await chat.http.post(COMPLETIONS, json=body, headers=me.headers)
        assert response.status_code == 200, response.text
        chunks = [
            json.loads(line[len("data: ") :])
            for line in response.text.splitlines()
            if line.startswith("data: {") and '"choices"' in line
        ]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == question
        prompt = chat.prompt_of("remote")
        assert IBAN not in prompt and EMAIL not in prompt and "John Smith" not in prompt
        assert "<PERSON_1>" in prompt and "<IBAN_1>" in prompt and "<EMAIL_1>" in prompt

    async def test_whole_completion_masked_and_blocked(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        messages = [{"role": "user", "content": f"Card {CARD}"}]
        masked = await chat.http.post(COMPLETIONS, json={"model": "masked", "messages": messages}, headers=me.headers)
        assert masked.status_code == 200, masked.text
        assert masked.json()["choices"][0]["message"]["content"] == "Card <CARD>"
        assert CARD not in chat.prompt_of("masked")

        blocked = await chat.http.post(COMPLETIONS, json={"model": "blocked", "messages": messages}, headers=me.headers)
        # OpenAI's shape: a request the API will not take is a 400 invalid_request_error.
        assert blocked.status_code == 400, blocked.text
        assert blocked.json()["error"]["type"] == "invalid_request_error"
        assert "a payment card number" in blocked.json()["error"]["message"] and CARD not in blocked.text


class TestWarmUp:
    async def test_models_load_at_start_only_when_a_model_policy_rewrites_prompts(self, pii_app: FastAPI, app: FastAPI):
        rewriting = PromptPrivacy(PrivacySettings(names=False))
        rewriting.warm_up(pii_app.state.router.registry)  # `remote` is untrusted: pseudonymise
        assert rewriting._warming is not None
        await rewriting._warming
        assert rewriting.detector.loaded

        trusted_only = PromptPrivacy(PrivacySettings(names=False))
        trusted_only.warm_up(app.state.router.registry)  # the test catalogue: scripted models, all trusted
        assert trusted_only._warming is None and not trusted_only.detector.loaded


class TestDocumentExcerpts:
    async def test_rag_excerpts_follow_the_policy(self, chat: Chat) -> None:
        me = await signed_in_user(chat.app, chat.http)
        document = (
            "The Zephyr-7 cooling unit is serviced every 41 days. For access to Building K write to "
            "greta.lind@example.com or call +49 30 901820; the deposit goes to IBAN DE89 3704 0044 0532 0130 00."
        )
        uploaded = await chat.http.post(
            "/api/v1/chat/upload", files={"file": ("zephyr.txt", document.encode(), "text/plain")}, headers=me.headers
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uuid.UUID(uploaded.json()["id"])
        for _ in range(600):
            await chat.app.state.jobs.run_pending()
            async with chat.app.state.database.session() as session:
                status = await session.scalar(select(File.status).where(File.id == file_id))
            if status in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
        assert status == "ready"

        await chat.ask(me, "Whom do I contact about the Zephyr-7?", file_ids=[str(file_id)])
        prompt = chat.prompt_of("remote")
        assert "Zephyr-7 cooling unit" in prompt  # the excerpt reached the model…
        assert "greta.lind@example.com" not in prompt and "+49 30 901820" not in prompt  # …without the data
        assert "DE89 3704 0044 0532 0130 00" not in prompt
        assert "<EMAIL_1>" in prompt and "<IBAN_1>" in prompt

    async def test_a_long_document_is_summarised_from_protected_text(self, chat: Chat) -> None:
        """Map-reduce: each part of a document too long for the context is summarised by the model before the
        answer; what the model is sent for that is protected too."""
        me = await signed_in_user(chat.app, chat.http)
        filler = "Quarterly planning covers budgets, hiring and office moves across every department. " * 3
        sections = [f"Section {i}. {filler}Contact: owner{i}.team@example.com, IBAN {IBAN}." for i in range(1, 13)]
        uploaded = await chat.http.post(
            "/api/v1/chat/upload",
            files={"file": ("report.txt", "\n\n".join(sections).encode(), "text/plain")},
            headers=me.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uuid.UUID(uploaded.json()["id"])
        for _ in range(600):
            await chat.app.state.jobs.run_pending()
            async with chat.app.state.database.session() as session:
                status = await session.scalar(select(File.status).where(File.id == file_id))
            if status in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
        assert status == "ready"

        await chat.ask(me, "Summarise this document", model="remote-small", file_ids=[str(file_id)])
        requests = chat.sent["remote-small"]
        assert len(requests) > 2  # the parts' summaries, then the answer
        seen = "\n".join(m.content for r in requests for m in r.messages)
        assert "Quarterly planning" in seen
        assert "@example.com" not in seen and IBAN not in seen
