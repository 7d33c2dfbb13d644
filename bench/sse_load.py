"""What the streaming benchmarks share: starting the mock upstream and a Parley against it, and a load
generator for server-sent event streams.

The load generator competes with the servers for the same cores, so it is as cheap as it can be: one
`asyncio.Protocol` per stream (uvloop when installed), the request written as prepared bytes, and the response
never parsed beyond counting a marker per event and noting when each chunk arrived. Each request has its own
connection (`Connection: close`); its clock starts when the request is written, after the connection is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
ADMIN_EMAIL = "bench-admin@parley.bench"
ADMIN_PASSWORD = "a benchmark passphrase"  # noqa: S105 (a throwaway account on a throwaway database)

# What marks one token, and the end, of each kind of stream.
PARLEY_TOKEN = b"event: delta\n"
PARLEY_END = b"event: done\n"
PARLEY_ERROR = b"event: error\n"
MOCK_TOKEN = b'"finish_reason":null'
MOCK_END = b"data: [DONE]"


def install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    uvloop.install()
    return "uvloop"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- load generator ------------------------------------------------------------------------------------


@dataclass
class StreamResult:
    sent_at: float = 0.0
    status: int | None = None
    token_times: list[float] = field(default_factory=list)
    ended: bool = False
    error: str | None = None
    head: bytes = b""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200 and self.ended

    @property
    def ttft(self) -> float | None:
        return self.token_times[0] - self.sent_at if self.token_times else None

    def gaps(self) -> list[float]:
        times = self.token_times
        return [b - a for a, b in itertools.pairwise(times)]


class _StreamProtocol(asyncio.Protocol):
    def __init__(
        self, request: bytes, token: bytes, end: bytes, error: bytes | None, keep: int, done: asyncio.Future[None]
    ) -> None:
        self.request = request
        self.token = token
        self.end = end
        self.error_marker = error
        self.keep = keep
        self.done = done
        self.result = StreamResult()
        self.tail = b""
        self.overlap = max(len(token), len(end), len(error or b"")) - 1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.result.sent_at = time.perf_counter()
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        result = self.result
        if result.status is None:
            try:
                result.status = int(data[9:12])
            except ValueError:
                result.status = -1
        if len(result.head) < self.keep:
            result.head += data[: self.keep - len(result.head)]
        window = self.tail + data
        count = window.count(self.token)
        if count:
            result.token_times.extend([now] * count)
        if self.end in window:
            result.ended = True
        if self.error_marker is not None and self.error_marker in window:
            result.error = "error event"
        self.tail = window[-self.overlap :]

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.result.error is None:
            self.result.error = type(exc).__name__
        if not self.done.done():
            self.done.set_result(None)


async def stream_once(
    port: int,
    request: bytes,
    *,
    token: bytes,
    end: bytes,
    error: bytes | None = None,
    limit_seconds: float = 60.0,
    keep: int = 0,
) -> StreamResult:
    """Send one prepared request and follow its stream to the end (the server closes the connection)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    protocol = _StreamProtocol(request, token, end, error, keep, done)
    try:
        await loop.create_connection(lambda: protocol, HOST, port)
    except OSError as exc:
        protocol.result.error = f"connect: {type(exc).__name__}"
        return protocol.result
    try:
        await asyncio.wait_for(done, limit_seconds)
    except TimeoutError:
        protocol.result.error = "timeout"
        if protocol.transport is not None:
            protocol.transport.abort()
    result = protocol.result
    if result.error is None and result.status != 200:
        result.error = f"HTTP {result.status}"
    elif result.error is None and not result.ended:
        result.error = "stream ended early"
    return result


def http_request(port: int, path: str, body: dict[str, Any], *, bearer: str | None = None) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    if bearer:
        lines.append(f"Authorization: Bearer {bearer}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def mock_request(port: int, message: str) -> bytes:
    """The shape of request Parley sends upstream: a system prompt, the question, streamed with usage."""
    return http_request(
        port,
        "/v1/chat/completions",
        {
            "model": "parley-mock",
            "messages": [{"role": "system", "content": "You are a benchmark."}, {"role": "user", "content": message}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 4096,
        },
    )


def parley_request(port: int, api_key: str, conversation_id: str | None, message: str, **extra: Any) -> bytes:
    body: dict[str, Any] = {"message": message, "model": "mock", "stream": True, **extra}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return http_request(port, "/api/v1/chat", body, bearer=api_key)


# --- servers ---------------------------------------------------------------------------------------------


@dataclass
class Servers:
    mock_port: int
    parley_port: int
    mock: subprocess.Popen[bytes]
    parley: subprocess.Popen[bytes]
    workdir: Path
    api_key: str
    _postmaster: psutil.Process | None = None

    def postgres(self) -> list[psutil.Process]:
        """The embedded PostgreSQL: its postmaster (found by its data dir) and all its backends."""
        if self._postmaster is None:
            marker = str(self.workdir / "data")
            for process in psutil.process_iter(["name", "cmdline"]):
                if process.info["name"] == "postgres" and marker in " ".join(process.info["cmdline"] or ()):
                    self._postmaster = process
                    break
        if self._postmaster is None:
            return []
        try:
            return [self._postmaster, *self._postmaster.children()]
        except psutil.Error:
            return [self._postmaster]


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise SystemExit(f"{what} did not start:\n{tail}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def servers(
    *,
    first_token_ms: float,
    tokens_per_second: float,
    reply: str,
    keep_workdir: bool = False,
    parley_env: dict[str, str] | None = None,
    workers: int | None = None,
    model_options: dict[str, Any] | None = None,
) -> Iterator[Servers]:
    """The mock upstream and a Parley (embedded PostgreSQL in a temporary data dir) using it as model `mock`,
    an admin account and a chat API key for it. Everything is stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    mock_port, parley_port = free_port(), free_port()
    mock_log = (workdir / "mock.log").open("wb")
    parley_log = (workdir / "parley.log").open("wb")
    mock = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            PYTHON,
            "-m",
            "parley.testing.mock_llm",
            "--port",
            str(mock_port),
            "--first-token-ms",
            str(first_token_ms),
            "--tokens-per-second",
            str(tokens_per_second),
            "--reply",
            reply,
        ],
        stdout=mock_log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    parley: subprocess.Popen[bytes] | None = None
    redis: subprocess.Popen[bytes] | None = None
    try:
        _wait_http(f"http://{HOST}:{mock_port}/v1/models", mock, "the mock", workdir / "mock.log")
        models = workdir / "models.yaml"
        models.write_text(
            "default: mock\n"
            "models:\n"
            "  - name: mock\n"
            "    provider: openai\n"
            "    model: parley-mock\n"
            f"    base_url: http://{HOST}:{mock_port}/v1\n"
            "    context_window: 128000\n"
            "    max_output_tokens: 4096\n"
            "    max_retries: 0\n"
            + "".join(f"    {key}: {json.dumps(value)}\n" for key, value in (model_options or {}).items())
        )
        # The benchmark account (free, like every new one) without the built-in free plan's per-minute limits,
        # which 100 streams would pass at once: the streams are measured here, not the limits.
        plans = workdir / "plans.yaml"
        plans.write_text("plans:\n  free: {}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
        env.update(
            PARLEY_MODELS=str(models),
            PARLEY_PLANS=str(plans),
            PARLEY_ADMIN_EMAIL=ADMIN_EMAIL,
            PARLEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            PARLEY_AUTH__ARGON2_TIME_COST="1",
            PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
            PARLEY_AUTH__ARGON2_PARALLELISM="1",
            PARLEY_AUTH__JWT_SECRET="bench-signing-key-" + "x" * 32,
        )
        env.update(parley_env or {})
        # Another source tree of Parley (e.g. the previous version, for a before/after comparison).
        if os.environ.get("BENCH_PARLEY_SRC"):
            extra = env.get("PYTHONPATH")
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ["BENCH_PARLEY_SRC"], extra]))
        command = [PYTHON, "-m", "parley", "serve", "--port", str(parley_port), "--data-dir", str(workdir / "data")]
        # Several Parley processes (`parley serve --workers N`), sharing runs through a Redis started here.
        if workers is None:
            workers = int(os.environ.get("BENCH_PARLEY_WORKERS", "1"))
        if workers > 1:
            if os.environ.get("BENCH_REDIS_URL"):
                # A Redis of the caller's instead (BENCH_REDIS_CLUSTER=true: a node of a Redis Cluster).
                env["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
                env["PARLEY_REDIS_CLUSTER"] = os.environ.get("BENCH_REDIS_CLUSTER", "false")
                env["PARLEY_REDIS_KEY_PREFIX"] = f"bench-{os.getpid()}"
            else:
                redis_port = free_port()
                redis = subprocess.Popen(  # noqa: S603 (a throwaway Redis for the run)
                    ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],  # noqa: S607
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                env["REDIS_URL"] = f"redis://{HOST}:{redis_port}/0"
            command += ["--workers", str(workers)]
        parley = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            command,
            stdout=parley_log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )
        _wait_http(f"http://{HOST}:{parley_port}/readyz", parley, "Parley", workdir / "parley.log", timeout=180)
        api_key = _create_api_key(parley_port)
        yield Servers(mock_port, parley_port, mock, parley, workdir, api_key)
    finally:
        if parley is not None:
            _stop(parley)
        if redis is not None:
            _stop(redis)
        _stop(mock)
        mock_log.close()
        parley_log.close()
        if keep_workdir:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _create_api_key(port: int) -> str:
    base = f"http://{HOST}:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(100):
            response = http.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            if response.status_code == 200:
                break
            time.sleep(0.2)
        response.raise_for_status()
        token = response.json()["access_token"]
        created = http.post(
            "/api/v1/users/me/api-keys",
            json={"name": "bench", "scopes": ["chat", "conversations:read", "conversations:write"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
        return str(created.json()["key"])


async def open_conversations(servers: Servers, count: int, *, concurrency: int = 100) -> list[str]:
    """`count` conversations that already hold one exchange, so the measured messages load a history and
    do not trigger title generation (which only follows a conversation's first answer)."""
    ids: list[str] = []
    failures: list[str] = []
    pending = iter(range(count))

    async def worker() -> None:
        for _ in pending:
            request = parley_request(
                servers.parley_port, servers.api_key, None, "Hello, this is a warm-up.", max_tokens=1
            )
            result = await stream_once(
                servers.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR, keep=1024
            )
            if not result.ok:
                failures.append(result.error or "?")
                continue
            ids.append(_conversation_id(result.head))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    if failures:
        raise SystemExit(f"{len(failures)} warm-up chats failed: {sorted(set(failures))}")
    return ids


def _conversation_id(head: bytes) -> str:
    marker = b'"conversation_id":"'
    start = head.index(marker) + len(marker)
    return head[start : start + 36].decode()


class CpuMeter:
    """CPU% of groups of processes between `start()` and `read()` (100% = one core), and `other`: what the
    rest of the machine used meanwhile (the noise). Groups are looked up again at `read()`, so processes
    started in between (database backends) count from their start."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._machine_start = 0.0
        self._started_at = 0.0

    @staticmethod
    def _times(processes: list[psutil.Process]) -> dict[int, float]:
        times: dict[int, float] = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                cpu = process.cpu_times()
                times[process.pid] = cpu.user + cpu.system
        return times

    @staticmethod
    def _machine_busy() -> float:
        total = psutil.cpu_times()
        return float(sum(total) - total.idle - getattr(total, "iowait", 0.0))

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._machine_start = self._machine_busy()
        self._start = {name: self._times(find()) for name, find in self.groups.items()}

    def read(self) -> dict[str, float]:
        elapsed = max(1e-9, time.monotonic() - self._started_at)
        usage = {}
        for name, find in self.groups.items():
            before = self._start.get(name, {})
            now = self._times(find())
            usage[name] = 100 * sum(t - before.get(pid, 0.0) for pid, t in now.items()) / elapsed
        machine = 100 * (self._machine_busy() - self._machine_start) / elapsed
        usage["other"] = max(0.0, machine - sum(usage.values()))
        return usage


def parley_processes(servers: Servers) -> list[psutil.Process]:
    """The Parley process and, with `--workers`, its worker processes."""
    parley = psutil.Process(servers.parley.pid)
    try:
        return [parley, *parley.children(recursive=True)]
    except psutil.Error:
        return [parley]


def cpu_meter(servers: Servers) -> CpuMeter:
    mock = psutil.Process(servers.mock.pid)
    me = psutil.Process()
    return CpuMeter(
        {
            "parley": lambda: parley_processes(servers),
            "postgres": servers.postgres,
            "mock": lambda: [mock],
            "loadgen": lambda: [me],
        }
    )
