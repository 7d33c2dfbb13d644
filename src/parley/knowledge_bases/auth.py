"""Who may call the knowledge-base routes (access to each knowledge base itself is decided in the repository's
SQL: owner, or a grant to the user or their role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parley.auth.dependencies import require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal

KnowledgeBaseRead = Annotated[Principal, Depends(require(Permission.FILES_READ))]
KnowledgeBaseWrite = Annotated[Principal, Depends(require(Permission.FILES_WRITE))]
# Attaching a knowledge base changes the conversation, and reads the knowledge base.
ConversationSourcesRead = Annotated[Principal, Depends(require(Permission.CONVERSATIONS_READ, Permission.FILES_READ))]
ConversationSourcesWrite = Annotated[Principal, Depends(require(Permission.CONVERSATIONS_WRITE, Permission.FILES_READ))]


def is_curator(principal: Principal) -> bool:
    """Whether the caller curates every knowledge base (`knowledge_bases:manage`): an owner's access to all."""
    return principal.can(Permission.KNOWLEDGE_BASES_MANAGE)
