"""Registration and sign-in, as a new employee and an attacker would try them."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from parley.models import AuditEvent, User
from tests.factories import PASSWORD, TEST_AUTH, assert_problem, create_user, sign_in


class TestRegister:
    async def test_creates_account_with_normalised_email_and_no_password_fields(self, client):
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": "  Jane.Doe@Example.COM ", "password": PASSWORD, "full_name": "Jane Doe"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == "jane.doe@example.com"
        assert body["full_name"] == "Jane Doe"
        assert body["role"] == "user" and body["is_active"] is True
        assert not any("password" in key for key in body)
        # The new account can sign in with any capitalisation of its email.
        await sign_in(client, "JANE.DOE@example.com")

    async def test_duplicate_email_is_409(self, client):
        await client.post("/api/v1/auth/register", json={"email": "dup@example.com", "password": PASSWORD})
        again = await client.post("/api/v1/auth/register", json={"email": "DUP@example.com", "password": PASSWORD})
        assert "already exists" in assert_problem(again, 409)["detail"]

    @pytest.mark.parametrize(
        ("password", "reason"),
        [
            ("short pass", "at least 12"),
            ("someone@example.com", "email"),
            ("aaaaaaaaaaaaaaaa", "too simple"),
        ],
    )
    async def test_password_policy_is_explained(self, client, password, reason):
        response = await client.post(
            "/api/v1/auth/register", json={"email": "someone@example.com", "password": password}
        )
        assert reason in assert_problem(response, 422)["detail"]

    async def test_invalid_email_is_422(self, client):
        response = await client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD})
        assert_problem(response, 422)

    async def test_registration_can_be_turned_off(self, client, app):
        app.state.security.settings.registration_enabled = False
        try:
            response = await client.post(
                "/api/v1/auth/register", json={"email": "late@example.com", "password": PASSWORD}
            )
            assert "administrator" in assert_problem(response, 403)["detail"]
        finally:
            app.state.security.settings.registration_enabled = True


class TestLogin:
    async def test_returns_token_pair_with_documented_claims(self, client, app):
        user_id = await create_user(app, email="claims@example.com")
        body = await sign_in(client, "claims@example.com")
        assert body["token_type"] == "bearer" and body["expires_in"] == 900
        claims = jwt.decode(
            body["access_token"], TEST_AUTH["jwt_secret"], algorithms=["HS256"], audience="parley-api", issuer="parley"
        )
        assert claims["sub"] == str(user_id) and claims["role"] == "user"
        assert {"iss", "aud", "sub", "exp", "iat", "jti", "role"} <= set(claims)
        assert claims["exp"] - claims["iat"] == 900

    async def test_unknown_email_and_wrong_password_look_the_same(self, client, app):
        await create_user(app, email="known@example.com")
        wrong = await client.post("/api/v1/auth/login", json={"email": "known@example.com", "password": "nope" * 4})
        unknown = await client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope" * 4})
        wrong_body, unknown_body = assert_problem(wrong, 401), assert_problem(unknown, 401)
        assert wrong_body["detail"] == unknown_body["detail"] == "Invalid email or password"

    async def test_unknown_email_costs_a_real_password_check(self, client, app, monkeypatch):
        # Equal work is what makes the timing equal: the unknown account is checked against a decoy hash.
        passwords = app.state.security.passwords
        real_hasher = passwords._hasher
        calls: list[str] = []

        class CountingHasher:
            def verify(self, stored_hash, password):
                calls.append(stored_hash)
                return real_hasher.verify(stored_hash, password)

        monkeypatch.setattr(passwords, "_hasher", CountingHasher())
        await client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "x" * 12})
        assert len(calls) == 1 and calls[0].startswith("$argon2id$")

    async def test_repeated_failures_for_one_account_are_throttled(self, client, app):
        await create_user(app, email="target@example.com")
        for _ in range(5):
            failed = await client.post(
                "/api/v1/auth/login", json={"email": "target@example.com", "password": "wrong password!"}
            )
            assert failed.status_code == 401
        throttled = await client.post("/api/v1/auth/login", json={"email": "target@example.com", "password": PASSWORD})
        assert_problem(throttled, 429)
        assert int(throttled.headers["retry-after"]) > 0
        # Another account from the same address is not locked out by it.
        await create_user(app, email="bystander@example.com")
        await sign_in(client, "bystander@example.com")

    async def test_repeated_failures_from_one_address_are_throttled(self, client, app):
        limit = app.state.security.settings.login_failures_per_ip
        for n in range(limit):
            await client.post("/api/v1/auth/login", json={"email": f"spray{n}@example.com", "password": "x" * 12})
        await create_user(app, email="real@example.com")
        throttled = await client.post("/api/v1/auth/login", json={"email": "real@example.com", "password": PASSWORD})
        assert_problem(throttled, 429)
        assert "retry-after" in throttled.headers

    async def test_success_and_failure_are_audited(self, client, app, session):
        user_id = await create_user(app, email="audited@example.com")
        await client.post("/api/v1/auth/login", json={"email": "audited@example.com", "password": "wrong" * 3})
        await sign_in(client, "audited@example.com")
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user_id))).all()
        assert "auth.login_failed" in actions and "auth.login" in actions
        last_login = await session.scalar(select(User.last_login_at).where(User.id == user_id))
        assert last_login is not None

    async def test_suspended_account_cannot_sign_in(self, client, app, session):
        user_id = await create_user(app, email="gone@example.com")
        user = await session.get(User, user_id)
        user.is_active = False
        await session.commit()
        response = await client.post("/api/v1/auth/login", json={"email": "gone@example.com", "password": PASSWORD})
        assert "suspended" in assert_problem(response, 403)["detail"]
