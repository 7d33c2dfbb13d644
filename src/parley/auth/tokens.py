"""Credentials Parley issues: JWT access tokens, opaque refresh tokens and API keys.

Refresh tokens and API keys carry 256 bits of randomness, so a plain SHA-256 of them is a safe thing to
store and look up (a slow password hash would add nothing and cost every request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from parley.config import AuthSettings
from parley.kit.clock import utcnow

_ALGORITHM = "HS256"
API_KEY_PREFIX = "pk-"
_API_KEY_ID_LENGTH = 12


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    jti: str
    # The refresh-token family (the signed-in session) the token belongs to: checked on every call, so ending
    # the session ends its access tokens at once.
    session_id: uuid.UUID


class InvalidToken(Exception):
    """A token that is malformed, forged, expired or meant for someone else."""


class AccessTokens:
    """Signs and verifies access tokens. Verification pins the algorithm and checks exp, aud and iss."""

    def __init__(self, settings: AuthSettings, secret: str) -> None:
        self._settings = settings
        self._secret = secret

    @property
    def ttl_seconds(self) -> int:
        return self._settings.access_token_ttl_seconds

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        role: str,
        session_id: uuid.UUID,
        token_id: str | None = None,
        issued_at: datetime | None = None,
    ) -> str:
        """A signed access token of the session `session_id`. `token_id` and `issued_at` make it reproducible:
        the refresh grace window answers every repeat of one refresh with the same pair."""
        now = issued_at or utcnow()
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": str(user_id),
            "iat": now,
            "exp": now + timedelta(seconds=self._settings.access_token_ttl_seconds),
            "jti": token_id or uuid.uuid4().hex,
            "role": role,
            "sid": str(session_id),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                # A token without a session could never be revoked before it expires: refused.
                options={"require": ["iss", "aud", "sub", "exp", "iat", "jti", "role", "sid"]},
                leeway=5,
            )
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                role=str(claims["role"]),
                jti=str(claims["jti"]),
                session_id=uuid.UUID(claims["sid"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc


def load_or_create_jwt_secret(settings: AuthSettings, data_dir: Path) -> str:
    """The signing key from settings, else one generated on first start and kept (mode 0600) in the data dir."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    path = data_dir / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once keep whichever key was written first.
    try:
        with path.open("x") as handle:
            path.chmod(0o600)
            handle.write(secret)
    except FileExistsError:
        return path.read_text().strip()
    return secret


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def successor_refresh_token(parent: str, key: bytes) -> str:
    """The refresh token that follows `parent` in its family: an HMAC of it under a server key, so the same
    refresh repeated within the grace window yields the same successor without any token being stored, and no
    one without the key can compute it from the parent."""
    digest = hmac.new(key, b"parley-refresh-successor\x00" + parent.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def successor_key(secret: str) -> bytes:
    """The key of `successor_refresh_token`, derived from the signing secret (kept apart from JWT signing)."""
    return hmac.new(secret.encode(), b"parley-refresh-successor-key", hashlib.sha256).digest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key and its public id (the part shown in lists): `pk-<id>_<secret>`."""
    key_id = secrets.token_hex(_API_KEY_ID_LENGTH // 2)
    return f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}", key_id


def api_key_id(key: str) -> str | None:
    """The public id inside a presented key, or None when the key is not shaped like ours."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != _API_KEY_ID_LENGTH or len(secret) < 20:
        return None
    return key_id


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
