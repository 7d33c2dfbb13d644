"""The contract every provider implements.

A provider turns a `ChatRequest` into a stream of `ChatEvent`s. Events are small slotted dataclasses (no
Pydantic, no per-token validation) because one is created for every token on the hot path.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

# `tool`: the result of a tool call the assistant asked for (function calling), answering `tool_call_id`.
Role = Literal["system", "user", "assistant", "tool"]
# `tool_calls`: the answer ends asking the caller to run the tools it called.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "cancelled", "interrupted", "error"]
# What a request can need of a model beyond plain text, as the model catalogue's capability flags name it.
Capability = Literal["tools", "json_schema", "vision", "logprobs"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function the assistant called: `arguments` is the JSON text the model wrote (not parsed: a model can
    write invalid JSON, and the caller decides what to do with it)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image a user message shows the model (README, "Images"): its bytes exactly as the client sent them,
    their media type (`image/png`, `image/jpeg`, `image/webp`, `image/gif`), and the prompt tokens it counts for
    (worked out from its size when it was read, `parley.images`)."""

    media_type: str
    data: bytes = field(repr=False)
    width: int = 0
    height: int = 0
    # Chat Completions' `detail` hint, passed to OpenAI-compatible models.
    detail: Literal["auto", "low", "high", "original"] = "auto"
    tokens: int = 0

    def data_url(self) -> str:
        """The image as a base64 `data:` URL (how OpenAI's API carries image bytes)."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    # An assistant message's calls (its `content` may then be empty).
    tool_calls: tuple[ToolCall, ...] = ()
    # A `tool` message: the call it answers.
    tool_call_id: str | None = None
    # A user message's images, in the order they came; providers send them before the message's text (as
    # Anthropic advises), so interleaving of text and images within one message is not kept.
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call. `parameters` is its JSON Schema (an object schema)."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    # OpenAI's strict mode (the arguments must match the schema exactly), passed where the provider has one.
    strict: bool | None = None


# `auto` (the model decides), `none` (no call), `required` (at least one call), or the name of the one tool the
# model must call.
ToolChoice = Literal["auto", "none", "required"] | str


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: `json_object` (any JSON object) or `json_schema` (an instance of `schema`)."""

    type: Literal["json_object", "json_schema"]
    name: str | None = None
    schema: Mapping[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class GenerationParams:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Token id (as a string, as OpenAI's API keys it) → bias from -100 to 100.
    logit_bias: Mapping[str, float] | None = None
    response_format: ResponseFormat | None = None
    # Return each generated token's log probability (`TextDelta.logprobs`), with the `top_logprobs` likeliest
    # alternatives at each position (0 to 20).
    logprobs: bool = False
    top_logprobs: int | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    params: GenerationParams = field(default_factory=GenerationParams)
    tools: tuple[Tool, ...] = ()
    # None: the provider's default (`auto` when tools are given).
    tool_choice: ToolChoice | None = None
    # False: at most one call per answer; None: the provider's default.
    parallel_tool_calls: bool | None = None
    # Independent answers to generate for this prompt (Chat Completions' `n`): the /v1 service runs one
    # generation per choice; a provider always receives requests of one choice.
    choices: int = 1

    def needs(self) -> frozenset[Capability]:
        """The capabilities a model must have to answer this request (README, "Function calling")."""
        needed: set[Capability] = set()
        if self.tools or any(m.tool_calls or m.role == "tool" for m in self.messages):
            needed.add("tools")
        if self.params.response_format is not None:
            # Structured output, whether a schema or any JSON object: one capability.
            needed.add("json_schema")
        if self.params.logprobs:
            needed.add("logprobs")
        if any(m.images for m in self.messages):
            needed.add("vision")
        return frozenset(needed)

    def sampling_options(self) -> tuple[str, ...]:
        """The optional sampling parameters this request sets that not every provider takes (by their Chat
        Completions names): a model whose provider lacks one is refused with a 400 naming it."""
        params = self.params
        return tuple(
            name
            for name in ("seed", "presence_penalty", "frequency_penalty", "logit_bias")
            if getattr(params, name) not in (None, {})
        )


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
class TokenLogprob:
    """A generated token's log probability, with the likeliest alternatives at its position (`top`: token and
    log probability, likeliest first), as Chat Completions' `logprobs.content[]` carries it."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer, in order; with `logprobs` when the request asked for them (one per token the
    piece holds)."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call, in order. The first piece of call `index` carries its `id` and `name`; the
    following ones only more of its `arguments` (JSON text, split anywhere). Providers that produce a call whole
    send one delta with everything."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of a successful stream. `usage` is the provider's count when it reports one;
    `stop_sequence` the one of the request's `stop` sequences that ended the answer, when the provider says which
    (None when it does not, or when the answer ended otherwise)."""

    reason: FinishReason
    usage: Usage | None = None
    stop_sequence: str | None = None


ChatEvent = TextDelta | ToolCallDelta | Finish


class ToolCallAssembler:
    """Gathers `ToolCallDelta`s into whole `ToolCall`s (for callers that do not stream)."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}
        self._ids: dict[int, str] = {}
        self._names: dict[int, str] = {}

    def add(self, delta: ToolCallDelta) -> None:
        self._calls.setdefault(delta.index, []).append(delta.arguments)
        if delta.id:
            self._ids[delta.index] = delta.id
        if delta.name:
            self._names[delta.index] = self._names.get(delta.index, "") + delta.name

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(
                id=self._ids.get(index, f"call_{index}"), name=self._names.get(index, ""), arguments="".join(parts)
            )
            for index, parts in sorted(self._calls.items())
        )


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage | None
    # Every model that spent tokens on this completion, by name: those a fallback abandoned, then the one that
    # finished (when its usage is known). Filled by the router; what callers record in usage_logs.
    spent: tuple[tuple[str, Usage], ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()


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
    """One configured model. `stream` yields `TextDelta`s and `ToolCallDelta`s then exactly one `Finish`, or raises
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
    calls = ToolCallAssembler()
    finish: Finish | None = None
    async for event in model.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ToolCallDelta):
            calls.add(event)
        else:
            finish = event
    if finish is None:
        raise ProviderError("the model's stream ended without a finish", retryable=True)
    return Completion(text="".join(parts), finish_reason=finish.reason, usage=finish.usage, tool_calls=calls.calls())
