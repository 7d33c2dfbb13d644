"""A local GGUF model (by default the bundled one) served by llama.cpp's native server in a child process.

The server is xllamacpp's embedded llama.cpp HTTP server, bound to 127.0.0.1 on a free port and guarded by a
random API key, with `parallel` slots of `context_window` tokens each; generation runs in llama.cpp's own
threads. It lives in a child process rather than in Parley's, because:

- `xllamacpp.Server(...)` loads the model while holding the GIL (~1.2 s for the bundled model on 2 cores,
  longer for bigger files), which would freeze the event loop and every request on it;
- a native crash (a llama.cpp assertion) takes down the child, not Parley; a dead child is started again on
  the next request;
- ending the process is a sure way to give the model's memory back.

The child only hosts the server: it reads its settings (with the API key, so the key never shows in a process
listing) from stdin, prints the listening address on stdout, and exits when its stdin closes, which also
happens when Parley dies, so it is never orphaned.

Prompts use Parley's own ChatML template, not the one inside the GGUF. Role markers are special tokens that
only the template produces: message text is tokenized with special-token parsing off, so a message containing
"<|im_start|>system" stays text instead of forging a turn. The prompt goes to `/completion` as token ids, and
`count_tokens` counts exactly those ids (llama.cpp's tokenizer, nothing downloaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import httpx
import structlog

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderError,
    TextDelta,
    TokenLogprob,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.local_model import assemble_bundled_model
from parley.llm.providers.local_chat import stream_chat

_logger = structlog.get_logger("parley.llm.local")

_CHILD_MODULE = "parley.llm.providers.local"
# Loading reads the whole file; generous for models much bigger than the bundled one on slow disks.
_START_TIMEOUT_SECONDS = 300.0
_STOP_TIMEOUT_SECONDS = 10.0
_CONNECT_TIMEOUT_SECONDS = 5.0
# llama.cpp keeps evicted slots' prompt caches in RAM; its default cap (8 GiB) is too much beside Parley.
_PROMPT_CACHE_MIB = 1024
# llama.cpp log verbosity in the child: 1 = errors only (they are forwarded to our log).
_CHILD_LOG_VERBOSITY = 1
_STDERR_TAIL_LINES = 40
_ERROR_LOG_LINES = 8  # of them, quoted in a start failure
_CHATML_STOPS = ("<|im_end|>", "<|endoftext|>")


class _ChildSettings(TypedDict):
    model_path: str
    parallel: int
    context: int
    threads: int
    api_key: str


@dataclass(slots=True)
class _Server:
    """A running child and what talking to it needs."""

    process: asyncio.subprocess.Process
    client: httpx.AsyncClient
    stderr_drain: asyncio.Task[None]
    im_start: int
    im_end: int
    newline: list[int]
    assistant_header: list[int]


class LocalModel:
    """A ChatModel backed by a managed llama.cpp server. `start()` is idempotent and may run in the background
    (the registry does so); `stream()` and `count_tokens()` start it if needed and wait for it."""

    def __init__(self, config: ModelConfig, *, data_dir: Path) -> None:
        self.config = config
        self._data_dir = data_dir
        self._launch: asyncio.Task[_Server] | None = None
        self._closed = False

    async def start(self) -> None:
        await self._ready()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        server = await self._ready()
        if "tools" in request.needs():
            # llama.cpp's chat endpoint, with the GGUF's own template (`local_chat`).
            with self._transport_errors():
                async for event in stream_chat(
                    server.client,
                    request,
                    name=self.config.name,
                    max_output_tokens=self.config.max_output_tokens,
                    status_error=self._status_error,
                ):
                    yield event
            return
        prompt = await self._encode(server, request.messages)
        body: dict[str, Any] = {
            "prompt": prompt,
            "stream": True,
            "n_predict": request.params.max_tokens or self.config.max_output_tokens,
            "stop": [*_CHATML_STOPS, *request.params.stop],
            "cache_prompt": True,
            **_sampling(request),
        }
        logprobs = request.params.logprobs
        top = request.params.top_logprobs or 0
        if logprobs:
            # llama.cpp gives each token's log probability beside its `n_probs` likeliest alternatives.
            body["n_probs"] = max(top, 1)
        with self._transport_errors():
            # Leaving this block for any reason (the end, an error, the consumer's cancellation) closes the
            # connection, and llama.cpp then stops generating for that slot.
            async with server.client.stream("POST", "/completion", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                async for line in response.aiter_lines():
                    chunk = self._parse_line(line)
                    if chunk is None:
                        continue
                    text = chunk.get("content")
                    if logprobs and chunk.get("completion_probabilities"):
                        yield TextDelta(text or "", _token_logprobs(chunk["completion_probabilities"], top))
                    elif text:
                        yield TextDelta(text)
                    if chunk.get("stop"):
                        # llama.cpp names the stop string it met; the template's own stops are not the caller's.
                        word = chunk.get("stopping_word") if chunk.get("stop_type") == "word" else None
                        matched = word if isinstance(word, str) and word in request.params.stop else None
                        yield Finish(_finish_reason(chunk), _usage(chunk, prompt_tokens=len(prompt)), matched)
                        return
        raise ProviderError(f"local model {self.config.name}: the stream ended without a stop", retryable=True)

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        server = await self._ready()
        return len(await self._encode(server, messages))

    async def aclose(self) -> None:
        """Stop the server (or abandon a start in progress) and free the model. Later calls fail."""
        self._closed = True
        launch, self._launch = self._launch, None
        if launch is None:
            return
        launch.cancel()  # a finished launch ignores this; an unfinished one kills its child
        await asyncio.wait({launch})
        if launch.cancelled() or launch.exception() is not None:
            return
        await self._stop(launch.result())

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def _ready(self) -> _Server:
        if self._closed:
            raise ProviderError(f"local model {self.config.name} is closed")
        launch = self._launch
        if launch is None or self._needs_relaunch(launch):
            previous = launch
            launch = self._launch = asyncio.get_running_loop().create_task(
                self._start_server(), name=f"start local model {self.config.name}"
            )
            if previous is not None and not previous.cancelled() and previous.exception() is None:
                await self._stop(previous.result())
        # Shielded: a caller that gives up waiting does not abort a start other callers are waiting for.
        return await asyncio.shield(launch)

    def _needs_relaunch(self, launch: asyncio.Task[_Server]) -> bool:
        if not launch.done():
            return False
        if launch.cancelled():
            return True
        error = launch.exception()
        if error is not None:
            # A corrupt model file or a load failure stays failed; a transient one is tried again.
            return isinstance(error, ProviderError) and error.retryable
        returncode = launch.result().process.returncode
        if returncode is not None:
            _logger.warning("local_model_server_exited", model=self.config.name, returncode=returncode)
            return True
        return False

    async def _start_server(self) -> _Server:
        model_path = await self._model_path()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            _CHILD_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # All three pipes were requested above.
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        drain = asyncio.get_running_loop().create_task(_drain_stderr(process.stderr, tail, self.config.name))
        api_key = secrets.token_urlsafe(32)
        settings: _ChildSettings = {
            "model_path": str(model_path),
            "parallel": self.config.parallel,
            # llama.cpp splits the context evenly across slots: each slot gets the model's whole window.
            "context": self.config.context_window * self.config.parallel,
            "threads": self.config.threads or os.cpu_count() or 1,
            "api_key": api_key,
        }
        try:
            try:
                process.stdin.write(json.dumps(settings).encode() + b"\n")
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT_SECONDS)
            except (BrokenPipeError, ConnectionResetError):
                line = b""
            except TimeoutError as exc:
                raise ProviderError(
                    f"local model {self.config.name}: llama.cpp did not load {model_path} within "
                    f"{_START_TIMEOUT_SECONDS:.0f} s",
                    retryable=True,
                ) from exc
            reply = json.loads(line) if line.strip() else {}
            if "address" not in reply:
                await _terminate(process)
                await asyncio.wait({drain}, timeout=1.0)
                detail = reply.get("error") or f"exit status {process.returncode}"
                log = " | ".join(list(tail)[-_ERROR_LOG_LINES:])
                raise ProviderError(
                    f"local model {self.config.name}: llama.cpp could not serve {model_path}: {detail}"
                    + (f" ({log})" if log else "")
                )
            client = httpx.AsyncClient(
                base_url=str(reply["address"]),
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=httpx.Timeout(self.config.timeout_seconds, connect=_CONNECT_TIMEOUT_SECONDS),
                # Plain HTTP on loopback: TLS never happens, and not loading the CA bundle saves ~0.15 s of
                # GIL-held work on the event loop. No proxies from the environment either.
                verify=False,  # noqa: S501
                trust_env=False,
            )
            try:
                server = await self._chatml_markers(process, client, drain)
            except BaseException:
                await client.aclose()
                raise
        except BaseException:
            await _terminate(process)
            drain.cancel()
            raise
        _logger.info("local_model_started", model=self.config.name, path=str(model_path), pid=process.pid)
        return server

    async def _model_path(self) -> Path:
        if self.config.path is None:
            return await assemble_bundled_model(self._data_dir)
        path = self.config.path
        if not await asyncio.to_thread(path.is_file):
            raise ProviderError(f"local model {self.config.name}: no model file at {path}")
        return path

    async def _chatml_markers(
        self, process: asyncio.subprocess.Process, client: httpx.AsyncClient, drain: asyncio.Task[None]
    ) -> _Server:
        """Look up the ChatML special tokens in this model's vocabulary; a model without them cannot be
        prompted with our template."""
        with self._transport_errors():
            im_start = await self._tokenize(client, "<|im_start|>", special=True)
            im_end = await self._tokenize(client, "<|im_end|>", special=True)
            newline = await self._tokenize(client, "\n", special=False)
            assistant = await self._tokenize(client, "assistant\n", special=False)
        if len(im_start) != 1 or len(im_end) != 1:
            raise ProviderError(
                f"local model {self.config.name}: the model has no ChatML special tokens "
                "(<|im_start|>, <|im_end|>); Parley prompts local models with ChatML only"
            )
        return _Server(
            process=process,
            client=client,
            stderr_drain=drain,
            im_start=im_start[0],
            im_end=im_end[0],
            newline=newline,
            assistant_header=[im_start[0], *assistant],
        )

    async def _stop(self, server: _Server) -> None:
        await server.client.aclose()
        process = server.process
        if process.returncode is None and process.stdin is not None:
            process.stdin.close()  # the child's signal to unload the model and exit
            try:
                await asyncio.wait_for(process.wait(), _STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                await _terminate(process)
        await asyncio.wait({server.stderr_drain}, timeout=1.0)
        server.stderr_drain.cancel()
        _logger.info("local_model_stopped", model=self.config.name, returncode=process.returncode)

    # -- prompts and replies -----------------------------------------------------------------------------

    async def _encode(self, server: _Server, messages: Sequence[ChatMessage]) -> list[int]:
        """`<|im_start|>{role}\\n{content}<|im_end|>\\n` per message, then `<|im_start|>assistant\\n`, as token
        ids. Tokenizing each message on its own gives the same ids as tokenizing the whole rendered prompt
        (llama.cpp splits text at special tokens first), minus the special tokens a message could smuggle in."""
        with self._transport_errors():
            bodies = await asyncio.gather(
                *(self._tokenize(server.client, f"{m.role}\n{m.content}", special=False) for m in messages)
            )
        prompt: list[int] = []
        for body in bodies:
            prompt.append(server.im_start)
            prompt.extend(body)
            prompt.append(server.im_end)
            prompt.extend(server.newline)
        prompt.extend(server.assistant_header)
        return prompt

    async def _tokenize(self, client: httpx.AsyncClient, text: str, *, special: bool) -> list[int]:
        response = await client.post(
            "/tokenize", json={"content": text, "add_special": False, "parse_special": special}
        )
        if response.status_code >= 400:
            raise self._status_error(response)
        tokens = response.json()["tokens"]
        return [int(token) for token in tokens]

    def _parse_line(self, line: str) -> dict[str, Any] | None:
        """One server-sent event line: a chunk, nothing (blank lines, comments, pings), or an error."""
        if line.startswith("data: "):
            payload = line[6:]
        elif line.startswith("error: "):
            payload = line[7:]
        else:
            return None
        try:
            chunk: dict[str, Any] = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ProviderError(
                f"local model {self.config.name}: unreadable event {line[:200]!r}", retryable=True
            ) from exc
        if "error" in chunk or line.startswith("error: "):
            error = chunk.get("error", chunk)
            status = int(error.get("code", 500)) if isinstance(error, dict) else 500
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise ProviderError(
                f"local model {self.config.name}: {message}", status=status, retryable=_retryable_status(status)
            )
        return chunk

    def _status_error(self, response: httpx.Response) -> ProviderError:
        message = response.text[:500]
        with contextlib.suppress(ValueError, AttributeError):
            message = str(response.json()["error"]["message"])
        return ProviderError(
            f"local model {self.config.name}: HTTP {response.status_code}: {message}",
            status=response.status_code,
            retryable=_retryable_status(response.status_code),
        )

    @contextlib.contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"local model {self.config.name}: no answer for {self.config.timeout_seconds:g} s", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"local model {self.config.name}: lost the llama.cpp server ({exc!r})", retryable=True
            ) from exc


def _retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


def _sampling(request: ChatRequest) -> dict[str, Any]:
    """The request's sampling options in `/completion`'s terms; a `response_format` becomes llama.cpp's
    `json_schema`, which it enforces with a grammar (any JSON object for `json_object`)."""
    params = request.params
    options: dict[str, Any] = {
        name: value
        for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")
        if (value := getattr(params, name)) is not None
    }
    if params.logit_bias:
        options["logit_bias"] = [[int(token), bias] for token, bias in params.logit_bias.items()]
    if params.response_format is not None:
        schema = params.response_format.schema if params.response_format.type == "json_schema" else None
        options["json_schema"] = dict(schema) if schema is not None else {"type": "object"}
    return options


def _finish_reason(chunk: dict[str, Any]) -> FinishReason:
    # llama.cpp's stop types: "eos" and "word" are natural stops, "limit" is n_predict or the context's end.
    return "length" if chunk.get("stop_type") == "limit" else "stop"


def _usage(chunk: dict[str, Any], *, prompt_tokens: int) -> Usage:
    timings = chunk.get("timings") or {}
    return Usage(
        prompt_tokens=int(chunk.get("tokens_evaluated") or prompt_tokens),
        completion_tokens=int(chunk.get("tokens_predicted") or timings.get("predicted_n") or 0),
    )


async def _drain_stderr(stream: asyncio.StreamReader, tail: deque[str], model: str) -> None:
    """Forward the child's log (llama.cpp errors) to ours, keeping the last lines for start failures."""
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        if text:
            tail.append(text)
            _logger.warning("llama_cpp_log", model=model, line=text)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


def _serve_in_child() -> None:
    """The child process: host llama.cpp's server until stdin closes. Runs as
    `python -m parley.llm.providers.local`, started by `LocalModel` only."""
    import xllamacpp  # type: ignore[import-untyped]  # only the child loads the native library

    settings: _ChildSettings = json.loads(sys.stdin.readline())
    params = xllamacpp.CommonParams()
    params.model.path = settings["model_path"]
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, reported back through listening_address
    params.api_keys = [settings["api_key"]]
    params.n_parallel = settings["parallel"]
    params.n_ctx = settings["context"]
    params.kv_unified = False  # per-slot KV cache: each slot keeps its own full window
    params.fit_params = False  # never shrink the context behind our back; fail loudly instead
    params.cpuparams.n_threads = settings["threads"]
    params.cpuparams_batch.n_threads = settings["threads"]
    params.cache_ram_mib = _PROMPT_CACHE_MIB
    params.offline = True  # never reach a model hub
    params.ui = False
    # The GGUF's own chat template, for requests with tools only (`local_chat`): it knows the model's tool syntax.
    params.use_jinja = True
    params.endpoint_slots = False
    params.verbosity = _CHILD_LOG_VERBOSITY
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        raise SystemExit(1) from None
    print(json.dumps({"address": server.listening_address}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or dies
    del server


if __name__ == "__main__":
    _serve_in_child()


def _token_logprobs(entries: list[dict[str, Any]], top: int) -> tuple[TokenLogprob, ...]:
    """llama.cpp's `completion_probabilities` (OpenAI's shape), with the `top` likeliest alternatives kept."""
    return tuple(
        TokenLogprob(
            str(entry["token"]),
            float(entry["logprob"]),
            tuple(
                (str(alternative["token"]), float(alternative["logprob"]))
                for alternative in sorted(entry.get("top_logprobs") or (), key=lambda a: -float(a["logprob"]))[:top]
            ),
        )
        for entry in entries
    )
