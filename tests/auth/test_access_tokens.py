"""Forged, expired and misdirected access tokens are refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings

import jwt
import pytest

from tests.factories import TEST_AUTH, assert_problem, signed_in_user


def _claims(user_id: uuid.UUID, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "parley",
        "aud": "parley-api",
        "sub": str(user_id),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "role": "admin",
    }
    claims.update(overrides)
    return claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _me(client, token: str):
    return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


class TestForgedTokens:
    async def test_a_genuine_token_works(self, client, app):
        me = await signed_in_user(app, client)
        assert (await _me(client, me.access_token)).status_code == 200

    async def test_alg_none_is_refused(self, client, app):
        me = await signed_in_user(app, client)
        forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(me.id))}."
        assert_problem(await _me(client, forged), 401)

    @pytest.mark.parametrize(
        ("label", "overrides", "key"),
        [
            ("wrong key", {}, "some-other-key-" + "y" * 32),
            ("wrong audience", {"aud": "someone-else"}, TEST_AUTH["jwt_secret"]),
            ("wrong issuer", {"iss": "evil"}, TEST_AUTH["jwt_secret"]),
            ("expired", {"exp": int(time.time()) - 60, "iat": int(time.time()) - 1000}, TEST_AUTH["jwt_secret"]),
            ("no jti", {"jti": None}, TEST_AUTH["jwt_secret"]),
            ("unknown user", {"sub": str(uuid.uuid4())}, TEST_AUTH["jwt_secret"]),
            ("not a uuid subject", {"sub": "admin"}, TEST_AUTH["jwt_secret"]),
            # No session: nothing could revoke it before it expires.
            ("no sid", {}, TEST_AUTH["jwt_secret"]),
            ("unknown session", {"sid": str(uuid.uuid4())}, TEST_AUTH["jwt_secret"]),
        ],
    )
    async def test_tampered_tokens_are_401(self, client, app, label, overrides, key):
        me = await signed_in_user(app, client)
        claims = {k: v for k, v in _claims(me.id, **overrides).items() if v is not None}
        token = jwt.encode(claims, key, algorithm="HS256")
        response = await _me(client, token)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_hs512_with_the_right_key_is_still_refused(self, client, app):
        # Verification pins the algorithm: a token signed with the right key in another algorithm is refused.
        me = await signed_in_user(app, client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyJWT warns that the key is short for HS512; that is the point
            token = jwt.encode(_claims(me.id), TEST_AUTH["jwt_secret"], algorithm="HS512")
        assert_problem(await _me(client, token), 401)

    async def test_role_claim_cannot_grant_admin(self, client, app):
        # The role inside a genuine token is informational; permissions follow the stored role.
        me = await signed_in_user(app, client)
        session_id = jwt.decode(me.access_token, options={"verify_signature": False})["sid"]
        token = jwt.encode(_claims(me.id, role="admin", sid=session_id), TEST_AUTH["jwt_secret"], algorithm="HS256")
        response = await client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 403)

    @pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Token abc"])
    async def test_malformed_authorization_headers_are_401(self, client, header):
        response = await client.get("/api/v1/users/me", headers={"Authorization": header})
        assert_problem(response, 401)
