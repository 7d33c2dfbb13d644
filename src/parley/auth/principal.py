"""Who is calling: the user, what they may do on this call, and through which credential."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from parley.auth.permissions import Permission
from parley.models import User


@dataclass(frozen=True)
class Principal:
    user: User
    permissions: frozenset[Permission]
    # Set when the call came with an API key rather than a signed-in session.
    api_key_id: uuid.UUID | None = None
    # The refresh-token family of the signed-in session the access token belongs to.
    session_id: uuid.UUID | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id

    @property
    def is_interactive(self) -> bool:
        return self.api_key_id is None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions
