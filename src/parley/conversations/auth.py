"""Who may read and change conversations (ownership itself is enforced in the repository's SQL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parley.auth.dependencies import require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal

ConversationRead = Annotated[Principal, Depends(require(Permission.CONVERSATIONS_READ))]
ConversationWrite = Annotated[Principal, Depends(require(Permission.CONVERSATIONS_WRITE))]
