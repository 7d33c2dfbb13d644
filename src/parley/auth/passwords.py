"""argon2id password hashing, off the event loop, with equal work for unknown accounts."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from parley.config import AuthSettings


class Passwords:
    """Hashes and checks passwords. Each call costs the same time whether or not the account exists."""

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verified against when the account is unknown, so the response takes as long as a real check.
        self._decoy_hash = self._hasher.hash("parley-decoy-password-never-matches")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._decoy_hash, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def password_problem(password: str, *, email: str, min_length: int) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters long"
    if len(password) > 256:
        return "password must be at most 256 characters long"
    lowered = password.strip().lower()
    local_part = email.split("@", 1)[0].lower()
    if lowered == email.lower() or (len(local_part) >= 4 and lowered == local_part):
        return "password must not be your email address"
    if len(set(password)) < 4:
        return "password is too simple: use more different characters"
    return None
