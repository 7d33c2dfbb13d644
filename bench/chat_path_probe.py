"""Where one chat's time to first token goes inside Parley: a `sitecustomize` probe for the Parley process of a
benchmark (never part of Parley itself), and the table it yields.

The probe wraps a few functions on the chat path with timers and writes the samples to a JSON file every
second: the request's start (the request-context middleware) to the chat service's start (authentication,
FastAPI's parsing and validation), the chat service itself (the conversation, its history, the new messages),
the ORM flush and the whole end of the request's database session (flush, `COMMIT`, after-commit work), the
prompt build in the engine, the upstream SDK call to its response headers and to its first event, and the
request's start to its first `delta` event leaving Parley. `bench/b1_ttft_overhead.py --breakdown` uses it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PROBE_FILE_VARIABLE = "PARLEY_BENCH_PROBE_FILE"

PROBE = """
import collections, contextlib, json, os, threading, time

_path = os.environ["PARLEY_BENCH_PROBE_FILE"]
_samples = collections.defaultdict(list)
_request_start = [None]


def _timed(name, function):
    async def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            _samples[name].append(time.perf_counter() - started)
    return wrapper


def _install():
    import openai
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import parley.auth.service as auth_service
    import parley.chat.context as context
    import parley.chat.service as chat_service
    import parley.db as db
    import parley.kit.asgi as asgi
    import parley.llm.providers.openai_compat as openai_compat

    middleware = asgi.RequestContextMiddleware.__call__

    async def timed_request(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("path") != "/api/v1/chat":
            return await middleware(self, scope, receive, send)
        started = _request_start[0] = time.perf_counter()
        first = [True]

        async def timed_send(message):
            if first[0] and message["type"] == "http.response.body" and b"event: delta" in message.get("body", b""):
                first[0] = False
                _samples["request start -> first delta sent"].append(time.perf_counter() - started)
            await send(message)

        return await middleware(self, scope, receive, timed_send)

    asgi.RequestContextMiddleware.__call__ = timed_request

    send_chat = chat_service.send

    async def timed_send_chat(*args, **kwargs):
        started = time.perf_counter()
        if _request_start[0] is not None:
            _samples["request start -> chat service"].append(started - _request_start[0])
        try:
            return await send_chat(*args, **kwargs)
        finally:
            _samples["chat service (conversation, history, messages)"].append(time.perf_counter() - started)

    chat_service.send = timed_send_chat
    auth_service.authenticate = _timed("authentication (part of the first row)", auth_service.authenticate)
    context.build_prompt = _timed("prompt build", context.build_prompt)
    openai.AsyncOpenAI.post = _timed("SDK request -> response headers", openai.AsyncOpenAI.post)

    stream = openai_compat.OpenAICompatibleModel.stream

    async def timed_stream(self, request):
        started = time.perf_counter()
        first = True
        async for item in stream(self, request):
            if first:
                first = False
                _samples["provider call -> first event"].append(time.perf_counter() - started)
            yield item

    openai_compat.OpenAICompatibleModel.stream = timed_stream

    session = db.Database.session

    @contextlib.asynccontextmanager
    async def timed_session(self):
        async with session(self) as opened:
            yield opened
            ending = time.perf_counter()
        _samples["session end (flush, COMMIT, after-commit work)"].append(time.perf_counter() - ending)

    db.Database.session = timed_session

    @event.listens_for(Session, "before_flush")
    def _flush_starts(session, context, instances):
        session.info["probe_flush"] = time.perf_counter()

    @event.listens_for(Session, "after_flush_postexec")
    def _flush_ends(session, context):
        started = session.info.pop("probe_flush", None)
        if started is not None:
            _samples["ORM flush (part of the session end)"].append(time.perf_counter() - started)


def _write_forever():
    while True:
        time.sleep(1.0)
        with open(_path, "w") as file:
            json.dump(_samples, file)


_install()
threading.Thread(target=_write_forever, daemon=True).start()
"""


def install(directory: Path) -> dict[str, str]:
    """Write the probe into `directory`; the environment that makes a Parley process load it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(PROBE)
    return {"PYTHONPATH": str(directory), PROBE_FILE_VARIABLE: str(directory / "samples.json")}


def table(directory: Path, *, skip: int = 5) -> str:
    """Medians per measured span (after `skip` warm-up samples), in milliseconds."""
    samples: dict[str, list[float]] = json.loads((directory / "samples.json").read_text())
    lines = [f"   {'span':52} {'n':>5} {'median ms':>10} {'p90 ms':>8}"]
    for name, values in samples.items():
        kept = values[skip:] if len(values) > 2 * skip else values
        ordered = sorted(kept)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        lines.append(f"   {name:52} {len(kept):5d} {statistics.median(kept) * 1000:10.2f} {p90 * 1000:8.2f}")
    return "\n".join(lines)
