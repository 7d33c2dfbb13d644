"""End to end: a `parley serve` configured with PARLEY_TRACING__OTLP_ENDPOINT sends a chat's trace to a real
OTLP/HTTP receiver (the request, the model call and the upstream HTTP request to an OpenAI-compatible server),
and its JSON log lines of that request carry the trace's id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tests.databases import fresh_database_sync
from tests.servers import free_port
from tests.tracing.receiver import ReceivedSpan, otlp_receiver

CLIENT = ProtoSpan.SpanKind.SPAN_KIND_CLIENT

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "trace-admin@parley.test"
ADMIN_PASSWORD = "a-long-admin-password-1"
COLLECTOR_KEY = "collector-secret-7d1f"


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"not ready in 120 s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(ready_url, process, log)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PARLEY_", "OTEL_"))}
    for key in ("DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"):
        env.pop(key, None)
    env.update(HF_HUB_OFFLINE="1", **settings)
    return env


class TestExportToACollector:
    def test_a_chat_trace_reaches_the_collector_and_its_log_lines_carry_the_trace_id(self, database_url, tmp_path):
        upstream_port, parley_port = free_port(), free_port()
        models = tmp_path / "models.yaml"
        models.write_text(
            "default: upstream\n"
            "models:\n"
            "  - name: upstream\n"
            "    provider: openai\n"
            f"    base_url: http://127.0.0.1:{upstream_port}/v1\n"
            "    model: mock\n"
            "    context_window: 4096\n"
            # Fails at once, so the answer falls back to the upstream: its warning is logged in the answer's task.
            "  - name: failing\n"
            "    provider: scripted\n"
            "    fail: status:500\n"
            "    max_retries: 0\n"
            "    fallbacks: [upstream]\n"
        )
        with contextlib.ExitStack() as stack:
            receiver = stack.enter_context(otlp_receiver())
            database = stack.enter_context(fresh_database_sync(database_url, "parley_traces"))
            stack.enter_context(
                _process(
                    [sys.executable, "-m", "parley.testing.mock_llm", "--port", str(upstream_port)],
                    _environment(),
                    f"http://127.0.0.1:{upstream_port}/v1/models",
                    tmp_path / "upstream.log",
                )
            )
            log = tmp_path / "parley.log"
            parley = stack.enter_context(
                _process(
                    [sys.executable, "-m", "parley", "serve", "--port", str(parley_port), "--data-dir", str(tmp_path)],
                    _environment(
                        DATABASE_URL=database,
                        PARLEY_MODELS=str(models),
                        PARLEY_LOG_JSON="true",
                        PARLEY_LOG_LEVEL="info",
                        PARLEY_ADMIN_EMAIL=ADMIN_EMAIL,
                        PARLEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
                        PARLEY_AUTH__ARGON2_TIME_COST="1",
                        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
                        PARLEY_AUTH__ARGON2_PARALLELISM="1",
                        PARLEY_TRACING__OTLP_ENDPOINT=receiver.url,
                        PARLEY_TRACING__HEADERS=json.dumps({"x-collector-key": COLLECTOR_KEY}),
                    ),
                    f"http://127.0.0.1:{parley_port}/readyz",
                    log,
                )
            )
            base = f"http://127.0.0.1:{parley_port}"
            login = httpx.post(f"{base}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            chat = httpx.post(f"{base}/api/v1/chat", json={"message": "Trace this answer"}, headers=headers, timeout=60)
            assert chat.status_code == 200 and "event: done" in chat.text, chat.text
            body = {"message": "Fall back", "model": "failing"}
            fallback = httpx.post(f"{base}/api/v1/chat", json=body, headers=headers, timeout=60)
            assert fallback.status_code == 200 and "event: fallback" in fallback.text, fallback.text
            # A stop flushes the spans still queued.
            parley.send_signal(signal.SIGINT)
            parley.wait(timeout=60)

        servers = receiver.named("POST /api/v1/chat")
        assert len(servers) == 2

        def requested(server: ReceivedSpan) -> set[str]:
            calls = [s for s in receiver.trace(server.trace_id) if s.name == "llm.call"]
            return {c.attributes["parley.requested_model"] for c in calls}

        [server] = [s for s in servers if requested(s) == {"upstream"}]
        [failing] = [s for s in servers if "failing" in requested(s)]
        assert server.resource["service.name"] == "parley"
        assert server.resource["service.version"]
        spans = {s.span_id: s for s in receiver.trace(server.trace_id)}
        by_name = {s.name: s for s in spans.values()}
        assert by_name["auth.principal"].parent_span_id == server.span_id
        generation = by_name["chat.generation"]
        assert generation.attributes["parley.ttft_ms"] >= 0
        calls = [s for s in spans.values() if s.name == "llm.call" and s.parent_span_id == generation.span_id]
        assert calls and calls[0].attributes["parley.model"] == "upstream"
        assert calls[0].attributes["parley.provider"] == "openai"
        # The request to the model server, a child of the call (and so of this trace).
        upstream = [s for s in spans.values() if s.parent_span_id in {c.span_id for c in calls} and s.kind == CLIENT]
        urls = [s.attributes.get("url.full") or s.attributes.get("http.url") or "" for s in upstream]
        assert any(url.endswith(f":{upstream_port}/v1/chat/completions") for url in urls), urls
        assert any(s.attributes.get("db.system") or s.attributes.get("db.system.name") for s in spans.values())
        assert all(h.get("x-collector-key") == COLLECTOR_KEY for h in receiver.headers)

        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("event") == "request" and line.get("path") == "/api/v1/chat"]
        assert [line["trace_id"] for line in access] == [server.trace_id, failing.trace_id]
        assert all(line["span_id"] in {server.span_id, failing.span_id} for line in access)
        # A line logged by the answer's own task (the failed model call) belongs to its request's trace too.
        [warning] = [line for line in lines if line.get("event") == "model_call_failed"]
        [generation] = [s for s in receiver.trace(failing.trace_id) if s.name == "chat.generation"]
        assert (warning["trace_id"], warning["span_id"]) == (failing.trace_id, generation.span_id)
        assert COLLECTOR_KEY not in log.read_text()
