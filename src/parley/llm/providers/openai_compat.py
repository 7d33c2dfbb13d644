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
    ProviderError,
    TextDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.tokenizers import count_chat_tokens_async
from parley.tracing import spans as tracing

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
_NO_API_KEY = "not-needed"
# Tool and function calls are never requested, so a server that reports one has still finished its answer.
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
    "function_call": "stop",
}
_MAX_ERROR_TEXT = 300


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
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                yield TextDelta(text)
                            reason = choice.get("finish_reason")
                            if reason is not None:
                                finish_reason = _FINISH_REASONS.get(reason, "stop")
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
        yield Finish(finish_reason, usage)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions request, as JSON-ready values (what `create()` would send)."""
        params = request.params
        body: dict[str, Any] = {
            "model": self._upstream_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens or self.config.max_output_tokens,
        }
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
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
