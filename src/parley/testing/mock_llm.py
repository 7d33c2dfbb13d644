"""An OpenAI-compatible upstream that answers with the scripted model, for tests and benchmarks.

    python -m parley.testing.mock_llm --port 9100 [--host 127.0.0.1] [--first-token-ms 50]
        [--tokens-per-second 20] [--reply TEXT|echo] [--fail status:500|hang|drop_after_tokens:N]

It serves `GET /v1/models` and `POST /v1/chat/completions` (streamed as `chat.completion.chunk` server-sent
events ending in `data: [DONE]`, with the usage chunk when `stream_options.include_usage` is set; or whole).
Replies, pacing and failures come from `ScriptedModel`, so the mock and the in-process scripted provider
behave alike: `status:N` answers HTTP N with OpenAI's error object, `hang` never answers, and
`drop_after_tokens:N` breaks the connection after N tokens.

It has to stay out of the way of what it measures: thousands of concurrent streams on one core. So it is a
bare ASGI app for uvicorn (httptools, and uvloop when installed): no framework or validation models, every
chunk of a stream assembled from bytes prepared once per request, the last chunks sent in one write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, cast

from pydantic import ValidationError

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    GenerationParams,
    ProviderError,
    Role,
    TextDelta,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.scripted import ScriptedModel

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any

DEFAULT_MODEL_NAME = "parley-mock"
_MAX_BODY_BYTES = 16 * 1024 * 1024
_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_DONE = b"data: [DONE]\n\n"
# Uvicorn reports a response left unfinished; for `drop_after_tokens` that is the point, not news.
_DROP_LOG_MESSAGE = "ASGI callable returned without completing response"


class BadRequest(Exception):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class CompletionCall:
    """One parsed `POST /v1/chat/completions`."""

    request: ChatRequest
    model: str
    stream: bool
    include_usage: bool


class MockLLM:
    """The ASGI app. `model_name` is what `/v1/models` lists; a request may name any model, and its name is
    echoed back, as proxies that route by name do."""

    def __init__(self, model: ScriptedModel, *, model_name: str = DEFAULT_MODEL_NAME) -> None:
        self.model = model
        self.model_name = model_name
        self._models_body = json.dumps(
            {
                "object": "list",
                "data": [{"id": model_name, "object": "model", "created": int(time.time()), "owned_by": "parley"}],
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/v1/chat/completions":
            if method != "POST":
                await _error(send, 405, f"Method {method} is not allowed on {path}", "invalid_request_error")
                return
            await self._chat(receive, send)
        elif path == "/v1/models":
            if method != "GET":
                await _error(send, 405, f"Method {method} is not allowed on {path}", "invalid_request_error")
                return
            await _respond(send, 200, self._models_body)
        else:
            await _error(send, 404, f"Unknown request URL: {method} {path}", "invalid_request_error")

    async def _chat(self, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return
        try:
            call = parse_call(body)
        except BadRequest as exc:
            await _error(send, 400, str(exc), "invalid_request_error", param=exc.param)
            return
        task = asyncio.current_task()
        assert task is not None
        gone = asyncio.Event()
        watcher = asyncio.create_task(_cancel_on_disconnect(receive, task, gone))
        events = cast(AsyncGenerator[ChatEvent, None], self.model.stream(call.request))
        try:
            if call.stream:
                await _stream(send, events, call)
            else:
                await _whole(send, events, call)
        except asyncio.CancelledError:
            # The client went away (the upstream call was cancelled): stop generating, quietly.
            if not gone.is_set():
                raise
            task.uncancel()
        finally:
            watcher.cancel()
            await events.aclose()


async def _stream(send: Send, events: AsyncGenerator[ChatEvent, None], call: CompletionCall) -> None:
    try:
        first = await anext(events)
    except ProviderError as exc:
        if exc.status is not None:
            await _provider_error(send, exc)
        else:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})

    head = b'data: {"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%d,"model":%s,"choices":' % (
        uuid.uuid4().hex.encode(),
        int(time.time()),
        encode_basestring(call.model).encode(),
    )
    usage_null = b',"usage":null' if call.include_usage else b""
    content_head = head + b'[{"index":0,"delta":{"content":'
    content_tail = b'},"logprobs":null,"finish_reason":null}]' + usage_null + b"}\n\n"

    event: ChatEvent = first
    # The scripted model is asked without tools here, so its events are text, then the finish.
    if isinstance(event, TextDelta):
        # The role rides on the first token, so every content chunk carries exactly one token.
        await send(
            {
                "type": "http.response.body",
                "body": head
                + b'[{"index":0,"delta":{"role":"assistant","content":'
                + encode_basestring(event.text).encode()
                + content_tail,
                "more_body": True,
            }
        )
        try:
            async for event in events:
                if isinstance(event, Finish):
                    break
                if not isinstance(event, TextDelta):
                    continue
                await send(
                    {
                        "type": "http.response.body",
                        "body": content_head + encode_basestring(event.text).encode() + content_tail,
                        "more_body": True,
                    }
                )
        except ProviderError:
            return  # a dropped connection: uvicorn closes it with the response unfinished
    assert isinstance(event, Finish)
    closing = [
        head
        + b'[{"index":0,"delta":{},"logprobs":null,"finish_reason":'
        + encode_basestring(event.reason).encode()
        + b"}]"
        + usage_null
        + b"}\n\n"
    ]
    if call.include_usage and event.usage is not None:
        usage = event.usage
        closing.append(
            head
            + b'[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}\n\n'
            % (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
        )
    closing.append(_DONE)
    await send({"type": "http.response.body", "body": b"".join(closing), "more_body": False})


async def _whole(send: Send, events: AsyncGenerator[ChatEvent, None], call: CompletionCall) -> None:
    parts: list[str] = []
    try:
        async for event in events:
            if isinstance(event, Finish):
                break
            if isinstance(event, TextDelta):
                parts.append(event.text)
        else:
            raise ProviderError("the scripted model ended without a finish")
    except ProviderError as exc:
        if exc.status is not None:
            await _provider_error(send, exc)
        else:
            # Promise a body, send part of it, and leave: the client sees the connection drop.
            headers = [*_JSON_HEADERS, (b"content-length", b"1000")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"id":"chatcmpl-', "more_body": True})
        return
    usage = event.usage
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts), "refusal": None},
                "logprobs": None,
                "finish_reason": event.reason,
            }
        ],
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "system_fingerprint": None,
    }
    await _respond(send, 200, json.dumps(payload, ensure_ascii=False).encode())


def parse_call(body: bytes) -> CompletionCall:
    """The parts of a Chat Completions request the scripted model uses; malformed requests are 400s."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"We could not parse the JSON body of your request: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", param="model")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("'messages' must be a non-empty array", param="messages")
    messages = [_message(m, index) for index, m in enumerate(raw_messages)]
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise BadRequest("max_tokens must be a positive integer", param="max_tokens")
    stream = data.get("stream") is True
    options = data.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    return CompletionCall(
        request=ChatRequest(messages, GenerationParams(max_tokens=max_tokens)),
        model=model,
        stream=stream,
        include_usage=include_usage,
    )


def _message(raw: object, index: int) -> ChatMessage:
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise BadRequest(f"messages[{index}] must be an object with a role", param=f"messages.[{index}]")
    role = _ROLES.get(raw["role"], "system")  # tool and function results count as context
    content = raw.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    else:
        raise BadRequest(f"messages[{index}].content must be a string or an array", param=f"messages.[{index}]")
    return ChatMessage(role, text)


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when the client left before sending it all."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any], gone: asyncio.Event) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            task.cancel()
            return


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _error(send: Send, status: int, message: str, error_type: str, *, param: str | None = None) -> None:
    """OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`."""
    code = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}.get(status)
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    await _respond(send, status, json.dumps(body).encode())


async def _provider_error(send: Send, exc: ProviderError) -> None:
    status = exc.status or 500
    if status >= 500:
        error_type = "server_error"
    elif status == 429:
        error_type = "rate_limit_error"
    elif status in (401, 403):
        error_type = "authentication_error" if status == 401 else "permission_error"
    else:
        error_type = "invalid_request_error"
    await _error(send, status, str(exc), error_type)


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_DROP_LOG_MESSAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m parley.testing.mock_llm",
        description="An OpenAI-compatible mock upstream driven by Parley's scripted model",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token-ms", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="pace of the tokens (0: at once)")
    parser.add_argument("--reply", default="echo", help="the answer, or `echo` to repeat the last user message")
    parser.add_argument("--fail", default=None, help="status:NNN | hang | drop_after_tokens:N")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="the model id /v1/models lists")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser


def build_app(args: argparse.Namespace) -> MockLLM:
    config = ModelConfig(
        name="mock",
        provider="scripted",
        first_token_ms=args.first_token_ms,
        tokens_per_second=args.tokens_per_second,
        reply=args.reply,
        fail=args.fail,
        context_window=10_000_000,
        max_output_tokens=1_000_000,
    )
    return MockLLM(ScriptedModel(config), model_name=args.model)


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        app = build_app(args)
    except ValidationError as exc:
        parser.error("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    print(f"mock LLM on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http="auto",  # httptools when installed
        loop="auto",  # uvloop when installed
        lifespan="off",
        access_log=False,
        log_level=args.log_level,
        backlog=4096,
        timeout_keep_alive=30,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
