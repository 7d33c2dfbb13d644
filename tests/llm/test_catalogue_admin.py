"""The model catalogue managed at run time: administrators add a model, edit its prices, fallbacks and
capabilities, disable it and delete it; chats see each change at once on this replica and within seconds on the
others; API keys stay in the environment; every change is audited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import delete, select

from parley.auth.permissions import Role
from parley.llm.catalogue_sync import CatalogueSync
from parley.models import AuditEvent, ModelCatalogueEntry
from tests.factories import assert_problem, signed_in_user
from tests.llm.test_openai_provider import answer, streaming

MODELS = "/api/v1/admin/models"
PLANS = "/api/v1/admin/plans"


async def _restore(*apps: FastAPI) -> None:
    """Drop every admin entry and let each app serve the models file again (the next test's catalogue)."""
    async with apps[0].state.database.session() as session:
        await session.execute(delete(ModelCatalogueEntry))
    for app in apps:
        await app.state.model_catalogue.refresh()


@pytest_asyncio.fixture(loop_scope="session")
async def admin_client(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """`client`, signed in as an administrator (its headers set); the catalogue is restored afterwards."""
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    client.headers.update(admin.headers)
    yield client
    await _restore(app)


async def _api_key(app: FastAPI, client: httpx.AsyncClient) -> str:
    user = await signed_in_user(app, client)
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "catalogue"}, headers=user.headers)
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def _chat(client: httpx.AsyncClient, key: str, model: str, text: str = "hello there") -> httpx.Response:
    return await client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}"},
    )


def _listed(response: httpx.Response) -> dict[str, dict[str, object]]:
    assert response.status_code == 200, response.text
    return {model["name"]: model for model in response.json()}


class TestAdd:
    async def test_an_added_model_answers_chats_at_once_and_is_listed(self, app, admin_client):
        key = await _api_key(app, admin_client)
        assert (await _chat(admin_client, key, "team-bot")).status_code == 404
        created = await admin_client.post(
            MODELS,
            json={
                "name": "team-bot",
                "provider": "scripted",
                "label": "Team bot",
                "price_per_1k_input": "0.25",
                "price_per_1k_output": 1,
                "fallbacks": ["echo"],
                "capabilities": {"vision": True},
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["source"] == "admin" and body["enabled"] is True and body["fallbacks"] == ["echo"]
        assert body["capabilities"] == {"tools": True, "json_schema": True, "vision": True, "logprobs": False}
        answer = await _chat(admin_client, key, "team-bot", "ping pong")
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "ping pong"
        listed = _listed(await admin_client.get(MODELS))
        assert listed["team-bot"]["label"] == "Team bot" and listed["team-bot"]["price_per_1k_input"] == "0.25"
        assert list(listed)[:3] == ["echo", "slow", "cheap"] and list(listed)[-1] == "team-bot"
        v1 = await admin_client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert "team-bot" in [model["id"] for model in v1.json()["data"]]

    async def test_bad_entries_are_refused_with_a_problem_naming_what_is_wrong(self, admin_client):
        cases = [
            ({"name": "x1", "provider": "nonsense"}, 422, "provider"),
            ({"name": "x2", "provider": "scripted", "price_per_1k_input": -1}, 422, "price_per_1k_input"),
            ({"name": "x3", "provider": "scripted", "fallbacks": ["nowhere"]}, 422, "nowhere"),
            ({"name": "x4", "provider": "scripted", "fallbacks": ["x4"]}, 422, "itself"),
            ({"name": "auto", "provider": "scripted"}, 422, "reserved"),
            ({"name": "echo", "provider": "scripted"}, 409, "already exists"),
            ({"name": "x5", "provider": "openai", "api_key_env": "PARLEY_CRYPTO__KEYS"}, 422, "api_key_env"),
            ({"name": "x6", "provider": "openai", "api_key_env": "DATABASE_URL"}, 422, "api_key_env"),
            ({"name": "x7", "provider": "openai", "api_key": ""}, 422, "api_key"),
        ]
        for body, status, mentioned in cases:
            problem = assert_problem(await admin_client.post(MODELS, json=body), status)
            assert mentioned in str(problem), (body, problem)
        assert not [name for name in _listed(await admin_client.get(MODELS)) if name.startswith("x")]

    async def test_a_fallback_loop_is_refused(self, admin_client):
        created = await admin_client.post(
            MODELS, json={"name": "first", "provider": "scripted", "fallbacks": ["cheap"]}
        )
        assert created.status_code == 201, created.text
        problem = assert_problem(await admin_client.patch(f"{MODELS}/cheap", json={"fallbacks": ["first"]}), 422)
        assert "cheap → first → cheap" in problem["detail"]
        assert _listed(await admin_client.get(MODELS))["cheap"]["fallbacks"] == []


class TestEdit:
    async def test_a_file_model_edited_then_its_changes_undone(self, app, admin_client, session):
        patched = await admin_client.patch(
            f"{MODELS}/cheap",
            json={"price_per_1k_input": "2.5", "fallbacks": ["echo"], "capabilities": {"tools": False}},
        )
        assert patched.status_code == 200, patched.text
        listed = _listed(await admin_client.get(MODELS))["cheap"]
        assert listed["price_per_1k_input"] == "2.5" and listed["fallbacks"] == ["echo"]
        assert listed["capabilities"]["tools"] is False and listed["edited"] is True and listed["source"] == "file"
        # The file's other fields still apply.
        assert listed["provider"] == "scripted"
        served = app.state.models.config("cheap")
        assert served.price_per_1k_input == 2.5 and served.lacks(["tools"]) == ["tools"]
        assert (await admin_client.delete(f"{MODELS}/cheap")).status_code == 204
        listed = _listed(await admin_client.get(MODELS))["cheap"]
        assert listed["price_per_1k_input"] == "0" and listed["fallbacks"] == [] and listed["edited"] is False
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id == "cheap").order_by(AuditEvent.created_at)
            )
        )
        assert actions == ["model.update", "model.delete"]

    async def test_an_empty_edit_changes_nothing(self, admin_client, session):
        unchanged = await admin_client.patch(f"{MODELS}/slow", json={"enabled": True})
        assert unchanged.status_code == 200 and unchanged.json()["edited"] is False
        assert (await session.scalars(select(AuditEvent).where(AuditEvent.target_id == "slow"))).first() is None

    async def test_a_missing_model_is_404(self, admin_client):
        assert_problem(await admin_client.patch(f"{MODELS}/nowhere", json={"label": "x"}), 404)
        assert_problem(await admin_client.delete(f"{MODELS}/nowhere"), 404)
        problem = assert_problem(await admin_client.patch(f"{MODELS}/cheap", json={"max_retries": -1}), 422)
        assert "max_retries" in str(problem)


class TestDisable:
    async def test_a_disabled_model_answers_no_chat_and_comes_back_when_enabled(self, app, admin_client):
        key = await _api_key(app, admin_client)
        disabled = await admin_client.patch(f"{MODELS}/cheap", json={"enabled": False})
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        assert (await _chat(admin_client, key, "cheap")).status_code == 404
        v1 = await admin_client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert "cheap" not in [model["id"] for model in v1.json()["data"]]
        assert _listed(await admin_client.get(MODELS))["cheap"]["enabled"] is False
        # `dropping` falls back to cheap in the file: it now fails over to nothing rather than to a disabled model.
        assert app.state.models.config("dropping").fallbacks == ()
        problem = assert_problem(
            await admin_client.post(MODELS, json={"name": "y", "provider": "scripted", "fallbacks": ["cheap"]}), 422
        )
        assert "disabled" in problem["detail"]
        assert (await admin_client.patch(f"{MODELS}/cheap", json={"enabled": True})).status_code == 200
        answer = await _chat(admin_client, key, "cheap")
        assert answer.json()["choices"][0]["message"]["content"] == "the cheap answer"

    async def test_the_default_model_cannot_be_disabled(self, admin_client):
        problem = assert_problem(await admin_client.patch(f"{MODELS}/echo", json={"enabled": False}), 409)
        assert "default" in problem["detail"]


class TestDelete:
    async def test_a_model_a_plan_lists_is_kept_until_the_plan_lets_it_go(self, app, admin_client):
        key = await _api_key(app, admin_client)
        await admin_client.post(MODELS, json={"name": "temp-bot", "provider": "scripted"})
        assert (await admin_client.put(f"{PLANS}/team", json={"models": ["echo", "temp-bot"]})).status_code == 201
        problem = assert_problem(await admin_client.delete(f"{MODELS}/temp-bot"), 409)
        assert problem["plans"] == ["team"] and "team" in problem["detail"]
        assert (await admin_client.put(f"{PLANS}/team", json={"models": ["echo"]})).status_code == 200
        assert (await admin_client.delete(f"{MODELS}/temp-bot")).status_code == 204
        assert (await _chat(admin_client, key, "temp-bot")).status_code == 404
        assert "temp-bot" not in _listed(await admin_client.get(MODELS))

    async def test_a_file_model_without_changes_cannot_be_deleted(self, admin_client):
        problem = assert_problem(await admin_client.delete(f"{MODELS}/slow"), 409)
        assert "disable it" in problem["detail"]


class TestSecrets:
    async def test_the_key_is_read_from_the_environment_and_never_shown(self, app, admin_client, session, monkeypatch):
        secret = "sk-catalogue-test-0123456789"
        monkeypatch.setenv("CATALOGUE_TEST_API_KEY", secret)
        created = await admin_client.post(
            MODELS,
            json={
                "name": "remote",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "CATALOGUE_TEST_API_KEY",
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["api_key_set"] is True and created.json()["api_key_env"] == "CATALOGUE_TEST_API_KEY"
        listed = await admin_client.get(MODELS)
        assert secret not in created.text and secret not in listed.text
        served = app.state.models.config("remote")
        assert served.api_key.get_secret_value() == secret
        details = [str(d) for d in await session.scalars(select(AuditEvent.details))]
        assert details and not [d for d in details if secret in d]
        stored = [str(c) for c in await session.scalars(select(ModelCatalogueEntry.config))]
        assert stored and not [c for c in stored if secret in c]


class TestStoredKeys:
    async def test_a_stored_key_is_sealed_sent_to_the_provider_and_never_shown(
        self, app, admin_client, session, upstream
    ):
        secret, replaced = "sk-stored-key-first-0123456789", "sk-stored-key-second-9876543210"
        upstream.handler = streaming(answer("pong"))
        created = await admin_client.post(
            MODELS,
            json={"name": "keyed", "provider": "openai", "base_url": f"{upstream.url}/v1", "api_key": secret},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["api_key_set"], body["api_key_stored"], body["api_key_last4"]) == (True, True, "6789")
        assert "api_key" not in body and body["api_key_env"] is None
        listed = await admin_client.get(MODELS)
        assert _listed(listed)["keyed"]["api_key_stored"] is True
        assert secret not in created.text and secret not in listed.text
        # Sealed in the database: neither the column's bytes nor the entry's fields hold the key.
        row = await session.scalar(select(ModelCatalogueEntry).where(ModelCatalogueEntry.name == "keyed"))
        assert row.api_key_sealed and secret.encode() not in row.api_key_sealed and secret not in str(row.config)
        # The provider built from the entry sends it.
        key = await _api_key(app, admin_client)
        answered = await _chat(admin_client, key, "keyed")
        assert answered.status_code == 200, answered.text
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {secret}"

        changed = await admin_client.patch(f"{MODELS}/keyed", json={"api_key": replaced})
        assert changed.status_code == 200 and changed.json()["api_key_last4"] == "3210", changed.text
        assert (await _chat(admin_client, key, "keyed")).status_code == 200
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {replaced}"
        # Another replica opens it from the database as it syncs.
        replica = CatalogueSync(app.state.database, app.state.model_catalogue.seed, crypto=app.state.crypto)
        served = (await replica.load()).get("keyed")
        assert served is not None and served.api_key.get_secret_value() == replaced

        cleared = await admin_client.patch(f"{MODELS}/keyed", json={"api_key": None})
        assert cleared.status_code == 200, cleared.text
        assert (cleared.json()["api_key_stored"], cleared.json()["api_key_set"]) == (False, False)
        row = await session.scalar(select(ModelCatalogueEntry).where(ModelCatalogueEntry.name == "keyed"))
        await session.refresh(row)
        assert row.api_key_sealed is None
        assert (await _chat(admin_client, key, "keyed")).status_code == 200
        assert upstream.requests[-1].headers["authorization"] == "Bearer not-needed"
        # Audited as changed, never with its value.
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.target_id == "keyed")))
        assert [e.details.get("changed") for e in events if e.action == "model.update"] == [["api_key"]] * 2
        assert not [e for e in events if secret in str(e.details) or replaced in str(e.details)]


class TestOtherReplicas:
    async def test_a_model_added_on_one_replica_answers_on_another_within_seconds(self, client, redis_app, replica_b):
        transport_a, transport_b = httpx.ASGITransport(app=redis_app), httpx.ASGITransport(app=replica_b)
        async with (
            httpx.AsyncClient(transport=transport_a, base_url="http://a") as on_a,
            httpx.AsyncClient(transport=transport_b, base_url="http://b") as on_b,
        ):
            try:
                admin = await signed_in_user(redis_app, on_a, role=Role.ADMIN)
                key = await _api_key(redis_app, on_a)
                assert (await _chat(on_b, key, "shared-bot")).status_code == 404
                created = await on_a.post(
                    MODELS,
                    json={"name": "shared-bot", "provider": "scripted", "price_per_1k_output": 3},
                    headers=admin.headers,
                )
                assert created.status_code == 201, created.text
                # B polls the catalogue every 2 s (each chat asked meanwhile would count against the plan's rate).
                deadline = time.monotonic() + 10
                while replica_b.state.models.get("shared-bot") is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                answer = await _chat(on_b, key, "shared-bot", "from b")
                assert answer.status_code == 200, answer.text
                assert answer.json()["choices"][0]["message"]["content"] == "from b"
                assert replica_b.state.models.config("shared-bot").price_per_1k_output == 3
                # Disabled on B: A stops serving it too.
                disabled = await on_b.patch(f"{MODELS}/shared-bot", json={"enabled": False}, headers=admin.headers)
                assert disabled.status_code == 200, disabled.text
                deadline = time.monotonic() + 10
                while redis_app.state.models.get("shared-bot") is not None and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                assert (await _chat(on_a, key, "shared-bot")).status_code == 404
            finally:
                await _restore(redis_app, replica_b)
