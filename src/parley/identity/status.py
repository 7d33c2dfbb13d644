"""What administrators see of single sign-on: how people may sign in, each configured identity provider, how
many accounts are linked to it, when someone last signed in through it, and how many groups it keeps in step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parley.identity import repository


@dataclass(frozen=True, slots=True)
class ConfiguredProvider:
    """A provider as the settings have it."""

    kind: str  # "oidc" or "saml"
    id: str
    display_name: str
    # The OpenID issuer, or the SAML IdP's entity id or metadata source.
    issuer: str | None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    provider: ConfiguredProvider
    linked_accounts: int
    last_sign_in_at: datetime | None
    synced_groups: int


async def provider_statuses(session: AsyncSession, configured: Sequence[ConfiguredProvider]) -> list[ProviderStatus]:
    """Each configured provider with what the identities linked through it show (providers removed from the
    settings are left out: nobody can sign in through them any more)."""
    activity = await repository.provider_activity(session)
    groups = await repository.synced_group_counts(session)
    statuses = []
    for provider in configured:
        accounts, last = activity.get((provider.kind, provider.id), (0, None))
        statuses.append(ProviderStatus(provider, accounts, last, groups.get((provider.kind, provider.id), 0)))
    return statuses
