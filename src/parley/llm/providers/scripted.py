"""A model that follows a script: fixed or echoed replies at a set pace, with failures on demand.

It stands in for remote models in tests and benchmarks, and behind `python -m parley.testing.mock_llm` it is
an OpenAI-compatible upstream. Its "tokens" are words with their leading white space.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderError,
    TextDelta,
    Usage,
)
from parley.llm.config import ModelConfig

_TOKEN = re.compile(r"\s*\S+|\s+$")
# Per-message overhead, like a chat template's role markers.
_MESSAGE_OVERHEAD = 4


def split_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def count_message_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(len(split_tokens(m.content)) + _MESSAGE_OVERHEAD for m in messages)


class ScriptedModel:
    def __init__(self, config: ModelConfig, *, data_dir: Path | None = None) -> None:
        self.config = config
        self._failure, _, argument = (config.fail or "").partition(":")
        self._argument = argument
        self._loading: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Load like a local model does when `load_ms` is set: the registry starts it in the background, and
        answers wait for it. Idempotent."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.sleep(self.config.load_ms / 1000))
        await asyncio.shield(self._loading)

    def reply_for(self, request: ChatRequest) -> str:
        if self.config.reply == "prompt":
            # Everything the model was shown, in order: lets tests see what reached the model.
            return "\n\n".join(f"{m.role}: {m.content}" for m in request.messages)
        if self.config.reply != "echo":
            return self.config.reply
        for message in reversed(request.messages):
            if message.role == "user":
                return message.content
        return ""

    def _continuing(self, request: ChatRequest) -> str:
        """The reply, less what a trailing assistant message already holds of it: an answer taken over by
        another replica (`chat.handover`) continues exactly where it stopped, so its whole text is what an
        uninterrupted answer would have been."""
        reply = self.reply_for(request)
        last = request.messages[-1] if request.messages else None
        if last is not None and last.role == "assistant" and last.content and reply.startswith(last.content):
            return reply[len(last.content) :]
        return reply

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        if self.config.load_ms:
            await self.start()
        if self.config.first_token_ms:
            await asyncio.sleep(self.config.first_token_ms / 1000)
        if self._failure == "status":
            status = int(self._argument)
            raise ProviderError(
                f"scripted failure: HTTP {status}", status=status, retryable=status >= 500 or status == 429
            )
        if self._failure == "hang":
            await asyncio.Event().wait()
        tokens = split_tokens(self._continuing(request))
        limit = request.params.max_tokens or self.config.max_output_tokens
        drop_after = int(self._argument) if self._failure == "drop_after_tokens" else None
        interval = 1 / self.config.tokens_per_second if self.config.tokens_per_second else 0.0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        sent = 0
        for token in tokens[:limit]:
            if drop_after is not None and sent >= drop_after:
                raise ProviderError("scripted failure: connection dropped mid-stream", retryable=True)
            if interval:
                # Pace against a schedule, not with fixed sleeps, so the rate holds under load.
                next_at += interval
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent += 1
            yield TextDelta(token)
        if drop_after is not None and sent >= drop_after and sent < len(tokens):
            raise ProviderError("scripted failure: connection dropped mid-stream", retryable=True)
        reason: FinishReason = "length" if len(tokens) > limit else "stop"
        yield Finish(reason, Usage(prompt_tokens=count_message_tokens(request.messages), completion_tokens=sent))

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return count_message_tokens(messages)

    async def aclose(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
