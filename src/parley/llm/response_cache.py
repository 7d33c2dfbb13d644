"""The response cache (issue 11, "Cost controls"): a model whose catalogue entry has `cache:` answers a request
identical to one it answered within `ttl_seconds` from the stored answer, without calling its provider.

Identical means: the same model (its alias, provider and upstream model), the same messages and the same
generation parameters (every field of the `ChatRequest`), from the same user, or from anyone when the entry sets
`shared_across_users`. Only deterministic requests are cached: those that set `temperature` to 0 explicitly (a
request that leaves it unset gets the provider's default, which samples). Only complete answers are stored: ended
by the model asked (no fallback) with `stop` or `length`, not stopped, failed or cancelled. Grounded answers never
are (the router's caller says so): their sources depend on who asks and on documents that change.

A stored answer keeps its text, finish reason and usage; a hit replays the text in pieces (`TextDelta`s) and
then the `Finish` with the stored usage, after a `CacheHit` event that tells the caller to record the hit (no
cost, and the cost the provider would have charged as saved).

Two twins, chosen by settings: `MemoryResponseCache` (this process, a bounded LRU with expiry) and
`RedisResponseCache` (`llm.redis_response_cache`, shared by the replicas, with `REDIS_URL`). Keys are SHA-256
digests: neither the prompt nor the user id is stored in clear in a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol

from parley.llm.base import ChatRequest, Finish, FinishReason, TextDelta, Usage
from parley.llm.config import ModelConfig

# Finish reasons of complete answers: the only ones stored.
STORED_REASONS: frozenset[FinishReason] = frozenset({"stop", "length"})
# Bump when the key's or the stored value's layout changes: old entries are then never read.
_FORMAT = 1
# Replayed pieces: a word with its leading white space, as providers stream tokens.
_PIECE = re.compile(r"\s*\S+|\s+$")
# A replay lets other tasks run after this many pieces, so a long answer never holds the event loop.
_PIECES_PER_TURN = 64


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete answer as stored."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "v": _FORMAT,
                "text": self.text,
                "finish_reason": self.finish_reason,
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "stop_sequence": self.stop_sequence,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CachedAnswer | None:
        """The stored answer, or None when `raw` is not one this version wrote (read as a miss)."""
        try:
            data = json.loads(raw)
            if data.get("v") != _FORMAT or data["finish_reason"] not in STORED_REASONS:
                return None
            usage = Usage(prompt_tokens=int(data["prompt_tokens"]), completion_tokens=int(data["completion_tokens"]))
            stop_sequence = data.get("stop_sequence")
            return cls(
                text=str(data["text"]),
                finish_reason=data["finish_reason"],
                usage=usage,
                stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True, slots=True)
class CacheHit:
    """The answer that follows is replayed from the response cache: no provider is called. `usage` is what the
    answer spent when it was generated: the tokens the hit records (at no cost, its price counted as saved)."""

    usage: Usage


class ResponseCache(Protocol):
    """Stored answers by key (`cache_key`). Implementations never raise for an unreachable store: a lookup that
    fails is a miss and a store that fails is skipped (a cache only saves money; it never fails an answer)."""

    async def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under `key` and not yet expired."""
        ...

    async def put(self, key: str, answer: CachedAnswer, *, ttl_seconds: float) -> None:
        """Store `answer` under `key` for `ttl_seconds` (replacing any answer stored there)."""
        ...


def cacheable(config: ModelConfig, request: ChatRequest) -> bool:
    """Whether `request` to the model of `config` may be answered from (and stored in) the cache: the entry opts
    in, and the request is deterministic (temperature explicitly 0) and offers no tools (a stored answer holds
    text only, never tool calls)."""
    return config.cache is not None and request.params.temperature == 0 and not request.tools


def cache_key(config: ModelConfig, request: ChatRequest, *, user_id: uuid.UUID) -> str:
    """SHA-256 of a canonical JSON of everything that shapes the answer: the model (alias, provider, upstream
    id), every field of the request (messages and parameters, and any field added to `ChatRequest` later) and the
    scope (the user, unless the entry shares answers across users)."""
    shared = config.cache is not None and config.cache.shared_across_users
    material = {
        "v": _FORMAT,
        "model": [config.name, config.provider, config.model],
        "request": dataclasses.asdict(request),
        "scope": "shared" if shared else f"user:{user_id}",
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replay(answer: CachedAnswer) -> AsyncGenerator[TextDelta | Finish, None]:
    """The stored answer streamed as a provider streams one: its text in word pieces, then the `Finish` with the
    stored usage."""
    for count, piece in enumerate(_PIECE.findall(answer.text), start=1):
        yield TextDelta(piece)
        if count % _PIECES_PER_TURN == 0:
            await asyncio.sleep(0)
    yield Finish(answer.finish_reason, answer.usage, answer.stop_sequence)


class MemoryResponseCache:
    """This process's cache: least recently used answers leave first once the stored text passes `max_bytes`
    (approximately: the text's length plus a fixed overhead per entry); expired ones leave when read."""

    _ENTRY_OVERHEAD = 256

    def __init__(self, *, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        # key -> (expires at, answer, size)
        self._entries: OrderedDict[str, tuple[float, CachedAnswer, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, answer, _ = entry
        if self._clock() >= expires_at:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return answer

    async def put(self, key: str, answer: CachedAnswer, *, ttl_seconds: float) -> None:
        size = len(answer.text) + self._ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        self._remove(key)
        self._entries[key] = (self._clock() + ttl_seconds, answer, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]
