"""Models behind OpenAI's Chat Completions protocol: OpenAI itself, Azure OpenAI, and the self-hosted servers
that copy it (vLLM, Ollama, llama.cpp server, LiteLLM and other gateways).

The official SDK does the HTTP and SSE work; this module only translates. Its retries are off because the
router retries (with fallbacks and a circuit breaker) and two layers of retries multiply.

Two of the SDK's conveniences are skipped on this hot path because they cost more than the rest of a chat:
the typed `chat.completions.create()` walks every message of the history through its TypedDict transform
(milliseconds per request with a long conversation), and each streamed chunk would become a
`ChatCompletionChunk` model (most of Parley's CPU per token). The request body is built here as plain JSON
and posted with the client's own `post()` (auth headers, Azure's deployment path, errors and timeouts all
still the SDK's), and the chunks arrive as the decoded JSON objects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import openai

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
    ToolCallDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.tokenizers import count_chat_tokens_async
from parley.tracing import spans as tracing

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
_NO_API_KEY = "not-needed"
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
_MAX_ERROR_TEXT = 300


def matched_stop(reported: object, stop: Sequence[str]) -> str | None:
    """The stop sequence that ended an answer, where the server says which: vLLM (and servers following it)
    put it in the choice's `stop_reason`. OpenAI and most others say only `finish_reason: stop`, which could as
    well be the model's own end: then None, never a guess."""
    return reported if isinstance(reported, str) and reported in stop else None


class OpenAICompatibleModel:
    """One model behind an OpenAI-compatible endpoint, streamed and mapped to Parley's events.

    `config.model` is the upstream model id (the deployment name on Azure), falling back to the alias.
    Setting `config.api_version` selects Azure OpenAI, with `config.base_url` as the resource endpoint.
    """

    def __init__(self, config: ModelConfig, *, data_dir: Path) -> None:
        self.config = config
        self._upstream_model = config.model or config.name
        self._api_key = config.api_key.get_secret_value() if config.api_key is not None else None
        api_key = self._api_key or _NO_API_KEY
        if config.api_version is not None:
            if config.base_url is None:
                raise ValueError(f"model {config.name}: Azure OpenAI (api_version set) needs base_url")
            self._client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=config.base_url,
                api_version=config.api_version,
                api_key=api_key,
                max_retries=0,
                timeout=config.timeout_seconds,
                http_client=_http_client(config.max_connections),
            )
        else:
            self._client = openai.AsyncOpenAI(
                base_url=config.base_url,
                api_key=api_key,
                max_retries=0,
                timeout=config.timeout_seconds,
                http_client=_http_client(config.max_connections),
            )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        try:
            upstream = await self._client.post(
                "/chat/completions",
                body=self._body(request),
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
        except openai.APIError as exc:
            raise self._provider_error(exc) from exc

        finish_reason: FinishReason | None = None
        stop_sequence: str | None = None
        usage: Usage | None = None
        try:
            # `async with` closes the HTTP response however this generator ends, including when the consumer
            # is cancelled or stops iterating: the upstream then stops generating (and billing).
            async with upstream:
                async for chunk in upstream:
                    # With include_usage the usage arrives in an extra chunk after the finish reason; some
                    # servers put it on the last content chunk instead, and some never send it.
                    if not isinstance(chunk, dict):
                        raise self._malformed()
                    try:
                        reported = chunk.get("usage")
                        if reported:
                            usage = Usage(int(reported["prompt_tokens"]), int(reported["completion_tokens"]))
                        for choice in chunk.get("choices") or ():
                            delta = choice.get("delta") or {}
                            text = delta.get("content")
                            logprobs = chunk_logprobs(choice.get("logprobs")) if request.params.logprobs else ()
                            if text or logprobs:
                                yield TextDelta(text or "", logprobs)
                            for call in delta.get("tool_calls") or ():
                                function = call.get("function") or {}
                                yield ToolCallDelta(
                                    int(call.get("index", 0)),
                                    arguments=function.get("arguments") or "",
                                    id=call.get("id"),
                                    name=function.get("name"),
                                )
                            reason = choice.get("finish_reason")
                            if reason is not None:
                                finish_reason = _FINISH_REASONS.get(reason, "stop")
                                stop_sequence = matched_stop(choice.get("stop_reason"), request.params.stop)
                    except (AttributeError, KeyError, TypeError, ValueError) as exc:
                        raise self._malformed() from exc
        except openai.APIError as exc:
            # After the finish reason only the usage chunk and [DONE] were missing: the answer is whole.
            if finish_reason is None:
                raise self._provider_error(exc) from exc
        except json.JSONDecodeError as exc:
            raise self._malformed() from exc
        if finish_reason is None:
            raise ProviderError(f"model {self.config.name}: the stream ended without a finish reason", retryable=True)
        yield Finish(finish_reason, usage, stop_sequence if finish_reason == "stop" else None)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions request, as JSON-ready values (what `create()` would send)."""
        body: dict[str, Any] = {
            "model": self._upstream_model,
            "messages": [openai_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update(openai_options(request, max_output_tokens=self.config.max_output_tokens))
        return body

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return await count_chat_tokens_async(messages)

    async def aclose(self) -> None:
        await self._client.close()

    def _malformed(self) -> ProviderError:
        return ProviderError(f"model {self.config.name}: the server sent a malformed stream event", retryable=True)

    def _provider_error(self, exc: openai.APIError) -> ProviderError:
        name = self.config.name
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            return ProviderError(
                f"model {name}: HTTP {status}: {self._describe(exc)}",
                status=status,
                retryable=status in (408, 409, 429) or status >= 500,
            )
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(f"model {name}: timed out", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"model {name}: connection failed or was dropped", retryable=True)
        # An error object inside the stream: servers report generation failures (overload, a crashed worker)
        # this way once the 200 has gone out. Only a rejected request is worth no second try.
        return ProviderError(
            f"model {name}: {self._describe(exc)}",
            retryable=exc.type not in ("invalid_request_error", "authentication_error", "permission_error"),
        )

    def _describe(self, exc: openai.APIError) -> str:
        """The server's own error message, short, with the API key masked should a proxy echo it."""
        body = exc.body
        text = exc.message
        if isinstance(body, dict):
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str) and message:
                text = message
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:_MAX_ERROR_TEXT]


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """One message in Chat Completions' form: an assistant's tool calls and a tool result as such."""
    body: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        # Content parts: the images (as base64 data URLs, so the server needs no access to where they came from)
        # then the text.
        body["content"] = [*(openai_image(image) for image in message.images)]
        if message.content:
            body["content"].append({"type": "text", "text": message.content})
    if message.tool_calls:
        body["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        if not message.content:
            body["content"] = None
    if message.tool_call_id is not None:
        body["tool_call_id"] = message.tool_call_id
    return body


def openai_image(image: ImagePart) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image.data_url(), "detail": image.detail}}


def openai_options(request: ChatRequest, *, max_output_tokens: int) -> dict[str, Any]:
    """The request's generation options and tools in Chat Completions' form (also what llama.cpp's server
    takes: it turns `response_format` schemas into a grammar and tools into its chat template's format)."""
    params = request.params
    options: dict[str, Any] = {"max_tokens": params.max_tokens or max_output_tokens}
    for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(params, name)
        if value is not None:
            options[name] = value
    if params.stop:
        options["stop"] = list(params.stop)
    if params.logit_bias:
        options["logit_bias"] = dict(params.logit_bias)
    if params.logprobs:
        options["logprobs"] = True
        if params.top_logprobs is not None:
            options["top_logprobs"] = params.top_logprobs
    response_format = params.response_format
    if response_format is not None:
        if response_format.type == "json_schema":
            schema: dict[str, Any] = {"name": response_format.name or "response", "schema": response_format.schema}
            if response_format.strict is not None:
                schema["strict"] = response_format.strict
            options["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            options["response_format"] = {"type": "json_object"}
    if request.tools:
        options["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": dict(tool.parameters),
                    **({"strict": tool.strict} if tool.strict is not None else {}),
                },
            }
            for tool in request.tools
        ]
        if request.parallel_tool_calls is not None:
            options["parallel_tool_calls"] = request.parallel_tool_calls
    if request.tool_choice is not None:
        choice = request.tool_choice
        options["tool_choice"] = (
            choice if choice in ("auto", "none", "required") else {"type": "function", "function": {"name": choice}}
        )
    return options


def _http_client(max_connections: int) -> Any:
    """The SDK's aiohttp transport when aiohttp is installed (it is, with aioboto3): it reads a streamed
    response for about half the CPU of the default one, which counts once per token. The SDK's defaults
    (timeouts, redirects), except the connection limit: every streaming answer holds a connection, and the
    SDK's 1,000 would make answers beyond it wait for one; None falls back to the SDK's own client."""
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=100, keepalive_expiry=5.0)
    try:
        client = openai.DefaultAioHttpClient(limits=limits)
    except RuntimeError:  # the SDK's adapter is missing (aiohttp absent or too old)
        return None
    # Traced when tracing is on: a span per upstream request, and its `traceparent` sent to the model server.
    tracing.instrument_http_client(client)
    return client


def chunk_logprobs(raw: Any) -> tuple[TokenLogprob, ...]:
    """A chunk's `choices[].logprobs.content` as Parley's events carry it (none when the server sent none)."""
    if not raw:
        return ()
    return tuple(
        TokenLogprob(
            str(entry["token"]),
            float(entry["logprob"]),
            tuple((str(top["token"]), float(top["logprob"])) for top in entry.get("top_logprobs") or ()),
        )
        for entry in raw.get("content") or ()
    )
