"""The contract every provider implements.

A provider turns a `ChatRequest` into a stream of `ChatEvent`s. Events are small slotted dataclasses (no
Pydantic, no per-token validation) because one is created for every token on the hot path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "cancelled", "interrupted", "error"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


NO_USAGE = Usage(prompt_tokens=0, completion_tokens=0)


def unreported_usage(*, prompt_tokens: int, generated_tokens: int) -> Usage:
    """What an attempt spent when it ended without the provider's own count (it broke, or was cut short): its
    prompt and what it generated, as we counted them. An attempt that generated nothing was refused before its
    first token (a 429, a 5xx, a timeout, a dropped connection): providers do not bill those, so it spent
    nothing, whatever its prompt."""
    if generated_tokens <= 0:
        return NO_USAGE
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=generated_tokens)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of a successful stream. `usage` is the provider's count when it reports one."""

    reason: FinishReason
    usage: Usage | None = None


ChatEvent = TextDelta | Finish


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage | None
    # Every model that spent tokens on this completion, by name: those a fallback abandoned, then the one that
    # finished (when its usage is known). Filled by the router; what callers record in usage_logs.
    spent: tuple[tuple[str, Usage], ...] = ()


class ProviderError(Exception):
    """A provider call failed. `retryable` says whether trying again (or elsewhere) can help: rate limits,
    5xx, timeouts and dropped connections are; bad requests and authentication failures are not."""

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        # Seconds after which trying again can succeed, when known (a model whose circuit is open).
        self.retry_after = retry_after


@runtime_checkable
class ChatModel(Protocol):
    """One configured model. `stream` yields `TextDelta`s then exactly one `Finish`, or raises
    `ProviderError`. Cancelling the consuming task must cancel the upstream call."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """Generate an answer incrementally. An async generator, so a caller that stops early can `aclose()`
        it and free the upstream (a llama.cpp slot, an HTTP stream) at once."""
        ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the prompt made of `messages` takes in this model (its own tokenizer, never a download)."""
        ...

    async def aclose(self) -> None:
        """Release connections, processes."""
        ...


async def complete(model: ChatModel, request: ChatRequest) -> Completion:
    """Run a stream to its end and gather the answer (for non-streaming callers)."""
    parts: list[str] = []
    finish: Finish | None = None
    async for event in model.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            finish = event
    if finish is None:
        raise ProviderError("the model's stream ended without a finish", retryable=True)
    return Completion(text="".join(parts), finish_reason=finish.reason, usage=finish.usage)
