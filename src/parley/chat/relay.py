"""The relay: how generations are shared between replicas, so any replica can resume or stop any answer.

Two twins, chosen by settings (ARCHITECTURE.md, "Every backend has an in-process twin"):

- `InProcessRelay` (no `REDIS_URL`): one process holds every run; the relay does nothing, so a single Parley
  behaves exactly as before and never imports a Redis client.
- `RedisRelay` (`parley.chat.redis_relay`, with `REDIS_URL`): every event a run appends also goes to a Redis
  stream; a replica that does not hold the run reads that stream, and asks the holder to stop it over pub/sub.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from parley.chat.runs import Run, RunFeed, RunRegistry

StopReason = Literal["stopped", "suspended"]
"""Why another replica asks for a run to stop: the user pressed Stop, or the account was suspended (no title)."""
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))


@dataclass(frozen=True)
class Relayed:
    """Everything a run relayed, read back by the replica taking it over (`chat.handover`): its encoded events
    in order (numbered from 1, without gaps), the hand-over note sent with the first, and whether it ended."""

    events: list[bytes]
    note: bytes | None
    ended: bool


class RunRelay(Protocol):
    """Shares this process's runs with other replicas and reaches theirs."""

    # Whether another replica can take over this process's runs (`chat.handover`): only when they are relayed.
    can_hand_over: bool

    async def start(self, runs: RunRegistry) -> None:
        """Begin serving requests about `runs` (stop requests, remote listeners) from other replicas."""
        ...

    async def aclose(self) -> None:
        """Deliver what is still pending (the end of runs cancelled at shutdown), then stop."""
        ...

    def publish(self, run: Run) -> None:
        """Share a run about to start: its events from the first one on, and its finish."""
        ...

    async def find(self, conversation_id: uuid.UUID) -> RunFeed | None:
        """The latest run of a conversation, held by another replica (or finished moments ago), if any."""
        ...

    async def request_stop(
        self, conversation_id: uuid.UUID, *, wait_seconds: float, reason: StopReason = "stopped"
    ) -> None:
        """Ask whichever replica holds the conversation's live run to stop it (for `reason`), and wait (at most
        `wait_seconds`) until it has finished, so its final state can be read."""
        ...

    async def replay(
        self, conversation_id: uuid.UUID, *, writer: tuple[uuid.UUID, str] | None = None
    ) -> Relayed | None:
        """What the conversation's latest run relayed so far, from its first event; None when nothing complete
        is left of it (never relayed, expired, or trimmed). With `writer` (message id, writer token), first make
        that token the stream's writer, atomically with the read, so whoever relayed it so far can append no
        more (`chat.handover`); None, and nothing changed, when the stream is another message's."""
        ...

    def adopt(self, run: Run) -> None:
        """Share a run taken over from another replica: its events continue the stream it relayed there."""
        ...

    def release(self, run: Run) -> None:
        """Stop sharing a run handed over unfinished (a drain): its stream stays open, for the replica that takes
        it over to continue, and its end is never relayed from here."""
        ...

    async def announce_release(self) -> None:
        """Deliver what is queued, then tell the other replicas that answers were handed over, to take them now."""
        ...

    def on_release(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another replica announces answers handed over."""
        ...


class InProcessRelay:
    """The single-process twin: every run is local, so there is nothing to share or reach."""

    can_hand_over = False

    async def start(self, runs: RunRegistry) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def publish(self, run: Run) -> None:
        return None

    async def find(self, conversation_id: uuid.UUID) -> RunFeed | None:
        return None

    async def request_stop(
        self, conversation_id: uuid.UUID, *, wait_seconds: float, reason: StopReason = "stopped"
    ) -> None:
        return None

    async def replay(
        self, conversation_id: uuid.UUID, *, writer: tuple[uuid.UUID, str] | None = None
    ) -> Relayed | None:
        return None

    def adopt(self, run: Run) -> None:
        return None

    def release(self, run: Run) -> None:
        return None

    async def announce_release(self) -> None:
        return None

    def on_release(self, callback: Callable[[], None]) -> None:
        return None
