"""Plain functions that arrange test data and sign people in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from fastapi import FastAPI

from parley.auth.permissions import Role
from parley.db import Database
from parley.users import service as user_service

# Cheap argon2 so the suite stays fast; production uses the RFC 9106 defaults.
TEST_AUTH: dict[str, Any] = {
    "argon2_time_cost": 1,
    "argon2_memory_cost_kib": 1024,
    "argon2_parallelism": 1,
    "jwt_secret": "test-signing-key-" + "x" * 32,
}
PASSWORD = "a perfectly fine passphrase"
# The key-encryption key of every Parley of the test run (PARLEY_CRYPTO__KEYS; README, "Encryption at rest"): the
# session's apps and the `parley serve` processes started on their database with data dirs of their own share one,
# as replicas must (a process whose KEK is not the database's active one refuses to start).
TEST_CRYPTO_KEYS = "test=dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="

# Short intervals so stop, disconnect and crash behaviour shows within a test's time.
TEST_LLM: dict[str, Any] = {
    "disconnect_grace_seconds": 0.5,
    "checkpoint_interval_seconds": 0.2,
    "breaker_failure_threshold": 3,
    "breaker_cooldown_seconds": 30,
}

# The scripted models the suite chats with (the YAML format of PARLEY_MODELS).
TEST_MODELS_YAML = """
default: echo
models:
  - name: echo
    provider: scripted
    reply: echo
    context_window: 4096
    price_per_1k_input: 0.5
    price_per_1k_output: 1.5
  - name: slow
    provider: scripted
    reply: echo
    tokens_per_second: 25
    context_window: 4096
  - name: cheap
    provider: scripted
    reply: "the cheap answer"
  - name: failing
    provider: scripted
    fail: "status:500"
    max_retries: 1
    fallbacks: [echo]
  - name: broken-only
    provider: scripted
    fail: "status:503"
    max_retries: 0
  - name: dropping
    provider: scripted
    fail: "drop_after_tokens:3"
    reply: "one two three four five six"
    fallbacks: [cheap]
  - name: hanging
    provider: scripted
    fail: hang
    timeout_seconds: 0.3
    max_retries: 0
    fallbacks: [echo]
  - name: tiny
    provider: scripted
    reply: echo
    context_window: 300
    max_output_tokens: 50
  - name: show-prompt
    provider: scripted
    reply: prompt
    context_window: 8192
    max_output_tokens: 4000
  - name: small-window
    provider: scripted
    reply: echo
    context_window: 1200
    max_output_tokens: 100
  - name: rate-limited
    provider: scripted
    fail: "status:429"
    max_retries: 0
  - name: quiet
    provider: scripted
    reply: echo
    first_token_ms: 10000
    tokens_per_second: 25
"""


@dataclass
class SignedIn:
    id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def create_user(
    app: FastAPI,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    role: Role = Role.USER,
    full_name: str | None = None,
) -> uuid.UUID:
    database: Database = app.state.database
    async with database.session() as session:
        user = await user_service.create_user(
            session,
            app.state.security.passwords,
            email=email or f"user-{uuid.uuid4().hex[:8]}@example.com",
            password=password,
            full_name=full_name,
            role=role,
        )
        return user.id


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def signed_in_user(
    app: FastAPI, client: httpx.AsyncClient, *, role: Role = Role.USER, email: str | None = None
) -> SignedIn:
    email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    user_id = await create_user(app, email=email, role=role)
    tokens = await sign_in(client, email)
    return SignedIn(id=user_id, email=email, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


async def user_with_api_key(app: FastAPI, client: httpx.AsyncClient, **key_body: Any) -> tuple[SignedIn, str]:
    """A new signed-in user and an API key of theirs (`key_body`: the key's `scopes`, `name`…)."""
    me = await signed_in_user(app, client)
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk", **key_body}, headers=me.headers)
    assert created.status_code == 201, created.text
    return me, str(created.json()["key"])


async def openai_sdk(
    app: FastAPI, client: httpx.AsyncClient, live_url: str, **key_body: Any
) -> tuple[SignedIn, str, openai.AsyncOpenAI]:
    """A new user, their API key, and the official OpenAI SDK pointed at `live_url`'s /v1 with it (no retries)."""
    me, key = await user_with_api_key(app, client, **key_body)
    return me, key, openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and isinstance(body["detail"], str) and body["type"]
    assert "Traceback" not in response.text
    return body
