"""Who may chat."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.auth.dependencies import require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.chat.engine import ChatEngine

Chatter = Annotated[Principal, Depends(require(Permission.CHAT, Permission.CONVERSATIONS_WRITE))]
ChatReader = Annotated[Principal, Depends(require(Permission.CONVERSATIONS_READ))]


async def _engine(request: Request) -> ChatEngine:
    engine: ChatEngine = request.app.state.chat_engine
    return engine


EngineDep = Annotated[ChatEngine, Depends(_engine)]
