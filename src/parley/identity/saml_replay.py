"""Replay protection for SAML: an assertion signs someone in once. Its id is remembered in the database (shared
by every replica) until the assertion expires; the same assertion posted again is refused, on any replica, even
when two posts race (the second insert waits for the first and then finds the row)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.identity.saml import SAMLSignIn
from parley.identity.service import SignInRefused
from parley.kit.clock import utcnow
from parley.models import SamlAssertion


def _id_hash(issuer: str, assertion_id: str) -> str:
    return hashlib.sha256(f"{issuer}\n{assertion_id}".encode()).hexdigest()


async def use_assertion(session: AsyncSession, signed_in: SAMLSignIn, *, now: datetime | None = None) -> None:
    """Record that this assertion has been used; raises `SignInRefused` when it was used before. Expired ones
    are swept here."""
    moment = now or utcnow()
    await session.execute(delete(SamlAssertion).where(SamlAssertion.expires_at < moment))
    inserted = await session.scalar(
        insert(SamlAssertion)
        .values(
            id_hash=_id_hash(signed_in.issuer, signed_in.assertion_id),
            provider=signed_in.profile.provider,
            expires_at=max(signed_in.expires_at, moment),
        )
        .on_conflict_do_nothing()
        .returning(SamlAssertion.id_hash)
    )
    if inserted is None:
        raise SignInRefused("assertion_replayed", "This sign-in assertion was already used. Sign in again.")
