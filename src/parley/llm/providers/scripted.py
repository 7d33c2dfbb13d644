"""A model that follows a script: fixed or echoed replies at a set pace, with failures on demand.

It stands in for remote models in tests and benchmarks, and behind `python -m parley.testing.mock_llm` it is
an OpenAI-compatible upstream. Its "tokens" are words with their leading white space.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ImagePart,
    ProviderError,
    TextDelta,
    TokenLogprob,
    Tool,
    ToolCallDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.scripted_json import sample_instance

_TOKEN = re.compile(r"\s*\S+|\s+$")
# Per-message overhead, like a chat template's role markers.
_MESSAGE_OVERHEAD = 4


def split_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def count_message_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(
        len(split_tokens(m.content))
        + sum(len(split_tokens(c.arguments)) + 1 for c in m.tool_calls)
        + sum(image.tokens for image in m.images)
        + _MESSAGE_OVERHEAD
        for m in messages
    )


def describe_image(image: ImagePart) -> str:
    """How the scripted model "sees" an image: what tests compare with the bytes they sent (type, size in bytes
    and pixels, the start of its SHA-256)."""
    digest = hashlib.sha256(image.data).hexdigest()[:16]
    return f"[image {image.media_type} {len(image.data)} bytes {image.width}x{image.height} sha256:{digest}]"


def scripted_logprob(token: str, top: int | None) -> TokenLogprob:
    """The scripted model's log probabilities, deterministic so that tests can check them: a token's is minus a
    tenth of its length without white space; with `top`, the token itself first then `top - 1` made-up
    alternatives (`<token>#k`, each one less likely by 1)."""
    logprob = -round(len(token.strip()) / 10, 4)
    alternatives = [(token, logprob), *((f"{token}#{k}", logprob - k) for k in range(1, top or 0))]
    return TokenLogprob(token, logprob, tuple(alternatives[: top or 0]))


def cut_at_stop(reply: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """The reply up to the first of the `stop` sequences it contains (left out, as providers leave it out), and
    that sequence; the whole reply and None when it contains none."""
    found = [(reply.find(sequence), sequence) for sequence in stop if sequence and sequence in reply]
    if not found:
        return reply, None
    at, sequence = min(found)
    return reply[:at], sequence


def tools_to_call(request: ChatRequest) -> list[Tool]:
    """The tools the scripted model calls: when tools are offered, `tool_choice` is not `none` and the last
    message is not a tool's result (the model has the result: it answers), the named tool, else the first one;
    every tool when `parallel_tool_calls` is left on and `tool_choice` is `required`."""
    if not request.tools or request.tool_choice == "none":
        return []
    if request.messages and request.messages[-1].role == "tool":
        return []
    choice = request.tool_choice
    if choice not in (None, "auto", "required"):
        return [tool for tool in request.tools if tool.name == choice][:1]
    if choice == "required" and request.parallel_tool_calls is not False:
        return list(request.tools)
    return [request.tools[0]]


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
        """The answer's text. With `response_format`: a JSON instance of the schema (`json_schema`), or the
        reply as `{"answer": ...}` (`json_object`)."""
        text = self._text_for(request)
        response_format = request.params.response_format
        if response_format is None:
            return text
        if response_format.type == "json_schema" and response_format.schema is not None:
            return json.dumps(sample_instance(response_format.schema))
        return json.dumps({"answer": text})

    def _text_for(self, request: ChatRequest) -> str:
        if self.config.reply == "prompt":
            # Everything the model was shown, in order: lets tests see what reached the model.
            return "\n\n".join(_shown(m) for m in request.messages)
        if self.config.reply != "echo":
            return self.config.reply
        for message in reversed(request.messages):
            if message.role == "user" and message.images:
                # The images it was shown, then the text.
                return " ".join([*(describe_image(image) for image in message.images), message.content]).strip()
            if message.role == "user":
                return message.content
            if message.role == "tool":
                # The model has a tool's result: it answers with it.
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
        calls = tools_to_call(request)
        if calls:
            async for event in self._call_tools(request, calls):
                yield event
            return
        reply, stop_sequence = cut_at_stop(self._continuing(request), request.params.stop)
        tokens = split_tokens(reply)
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
            if request.params.logprobs:
                yield TextDelta(token, (scripted_logprob(token, request.params.top_logprobs),))
            else:
                yield TextDelta(token)
        if drop_after is not None and sent >= drop_after and sent < len(tokens):
            raise ProviderError("scripted failure: connection dropped mid-stream", retryable=True)
        reason: FinishReason = "length" if len(tokens) > limit else "stop"
        usage = Usage(prompt_tokens=count_message_tokens(request.messages), completion_tokens=sent)
        yield Finish(reason, usage, stop_sequence if reason == "stop" else None)

    async def _call_tools(self, request: ChatRequest, calls: list[Tool]) -> AsyncIterator[ChatEvent]:
        """The calls as a provider streams them: the id and name first, then the arguments in pieces (a
        `drop_after_tokens` failure drops the connection after that many pieces)."""
        drop_after = int(self._argument) if self._failure == "drop_after_tokens" else None
        sent = 0
        for index, tool in enumerate(calls):
            yield ToolCallDelta(index, id=f"call_scripted_{index}", name=tool.name)
            arguments = json.dumps(sample_instance(tool.parameters))
            for piece in split_tokens(arguments) or [arguments]:
                if drop_after is not None and sent >= drop_after:
                    raise ProviderError("scripted failure: connection dropped mid-stream", retryable=True)
                sent += 1
                yield ToolCallDelta(index, arguments=piece)
        yield Finish("tool_calls", Usage(prompt_tokens=count_message_tokens(request.messages), completion_tokens=sent))

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return count_message_tokens(messages)

    async def aclose(self) -> None:
        if self._loading is not None:
            self._loading.cancel()


def _shown(message: ChatMessage) -> str:
    """A message as `reply: prompt` repeats it: its role and text, its tool calls, the call a result answers."""
    text = f"{message.role}: {message.content}"
    if message.tool_call_id:
        text = f"{message.role} ({message.tool_call_id}): {message.content}"
    for image in message.images:
        text += f"\n{describe_image(image)}"
    for call in message.tool_calls:
        text += f"\n[call {call.id} {call.name}({call.arguments})]"
    return text
