"""The `/v1` completions streaming on this replica, by user, so that suspending a user stops them too.

Unlike the web chat's answers (runs of the chat engine, stopped through the relay), a `/v1` completion streams
inside its HTTP request and is known only to the replica serving it. Two ways reach it:
- the replica that handles the suspension stops its own streams at once (`stop_answers_of`, called after the
  suspension is committed, beside the chat engine's);
- every replica looks every `check_seconds` whether any user it streams for has been suspended (one statement
  for all of them, and none while nothing streams), so a suspension made on another replica stops the stream
  within that interval without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Protocol

import structlog

from parley.db import Database
from parley.users import service as users_service

_logger = structlog.get_logger("parley.openai_api")

SUSPENDED = "the account was suspended; the answer was stopped"


class Stoppable(Protocol):
    def stop(self, reason: str) -> None: ...


class OpenStreams:
    """Completions streaming on this replica, by user."""

    def __init__(self, database: Database, *, check_seconds: float = 2.0) -> None:
        self._database = database
        self._check_seconds = check_seconds
        self._by_user: dict[uuid.UUID, set[Stoppable]] = {}
        self._watcher: asyncio.Task[None] | None = None

    def track(self, user_id: uuid.UUID, stream: Stoppable) -> None:
        self._by_user.setdefault(user_id, set()).add(stream)

    def untrack(self, user_id: uuid.UUID, stream: Stoppable) -> None:
        streams = self._by_user.get(user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_user[user_id]

    def stop_answers_of(self, user_id: uuid.UUID) -> None:
        """Stop every completion streaming for `user_id` on this replica (a suspended account)."""
        for stream in tuple(self._by_user.get(user_id, ())):
            stream.stop(SUSPENDED)

    async def check(self) -> None:
        """Stop the streams of users suspended since they started (on any replica)."""
        if not self._by_user:
            return
        async with self._database.session() as session:
            suspended = await users_service.suspended_among(session, list(self._by_user))
        for user_id in suspended:
            self.stop_answers_of(user_id)

    async def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch_forever(), name="v1-stream-suspensions")

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                await self.check()
            except Exception as exc:  # a failed check is tried again next round; streaming goes on meanwhile
                _logger.error("stream_suspension_check_failed", error=str(exc))
