"""B4: 10,000 connected idle clients (issue 13): the memory and the CPU they cost the server.

    .venv/bin/python bench/b4_idle_clients.py [--clients 10000] [--answers 200] [--idle-seconds 60] [--workers 1]

What the web app keeps open is the answer's event stream: the `POST /api/v1/chat` that asked, and after a reload
(or a dropped connection) `GET /api/v1/chat/{conversation_id}/stream` with `Last-Event-ID`, which replays what was
missed and then waits for the rest. There is no other long-poll or notification stream. An idle client is one
attached to an answer that is not producing anything: here the mock upstream's first token is an hour away (the
model's `timeout_seconds` is 3,600), so every answer is running and silent.

Steps: `--answers` chats are started (their `POST` streams stay open, as the tab that asked them would); the
server is measured for `--idle-seconds` with only those (the baseline: the running answers' own heartbeat
checkpoints); then `--clients` resume streams (`Last-Event-ID: 1`, i.e. after the `message` event, so nothing is
replayed) are opened, spread evenly over the answers, from `--client-processes` processes (each raises its
open-file limit); once all have their `200` headers, the server is measured again for `--idle-seconds`. Prints
the RSS of Parley's processes (all of them with `--workers`) before and after, its delta per connection, the CPU
seconds per minute of Parley and its PostgreSQL in both windows, and the kernel's TCP memory (`/proc/net/sockstat`,
both ends of every loopback connection). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sse_load


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- client processes ----------------------------------------------------------------------------------------


class _Idle(asyncio.Protocol):
    def __init__(self, request: bytes, ready: asyncio.Future[int]) -> None:
        self.request = request
        self.ready = ready
        self.bytes_after_head = 0
        self.sample = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            try:
                self.ready.set_result(int(data[9:12]))
            except ValueError:
                self.ready.set_result(-1)
        else:
            self.bytes_after_head += len(data)
            self.sample = self.sample or data[:300]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_result(-2)


async def _hold(port: int, key: str, targets: list[str], parallel: int) -> None:
    loop = asyncio.get_running_loop()
    protocols: list[_Idle] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(parallel)

    async def connect(conversation: str) -> None:
        request = (
            f"GET /api/v1/chat/{conversation}/stream HTTP/1.1\r\nHost: {sse_load.HOST}:{port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {key}\r\nLast-Event-ID: 1\r\n\r\n"
        ).encode()
        async with gate:
            ready: asyncio.Future[int] = loop.create_future()
            protocol = _Idle(request, ready)
            try:
                await loop.create_connection(lambda: protocol, sse_load.HOST, port)
                status = await asyncio.wait_for(ready, 120)
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:  # only the streams count as idle clients (a 404's body would count as traffic)
                protocols.append(protocol)

    await asyncio.gather(*(connect(c) for c in targets))
    print(json.dumps({"statuses": statuses, "errors": errors}), flush=True)
    # Hold until the parent closes stdin, then say how many are still open and what arrived meanwhile.
    await loop.run_in_executor(None, sys.stdin.read)
    open_count = sum(1 for p in protocols if not p.closed)
    received = sum(p.bytes_after_head for p in protocols)
    sample = next((p.sample for p in protocols if p.sample), b"")
    print(json.dumps({"open": open_count, "bytes_after_head": received, "sample": sample.decode(errors="replace")}))


def client_main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    sse_load.install_uvloop()
    targets = json.loads(Path(args.targets).read_text())
    asyncio.run(_hold(args.port, args.key, targets, args.parallel))


# --- the benchmark ---------------------------------------------------------------------------------------------


def rss_mib(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


def rss_and_connections(processes: list[psutil.Process], port: int) -> dict[int, tuple[float, int]]:
    """Each Parley process's RSS (MiB) and the client connections it holds on `port` (with `--workers`, the
    kernel spreads them over the workers; a worker then serves the answers the other holds through Redis)."""
    figures: dict[int, tuple[float, int]] = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            held = sum(
                1
                for connection in process.net_connections(kind="tcp")
                if connection.status == psutil.CONN_ESTABLISHED and connection.laddr and connection.laddr.port == port
            )
            figures[process.pid] = (process.memory_info().rss / 2**20, held)
    return figures


def print_per_process(before: dict[int, tuple[float, int]], after: dict[int, tuple[float, int]]) -> None:
    for pid, (rss, held) in after.items():
        rss_was, held_was = before.get(pid, (0.0, 0))
        added = held - held_was
        each = f", {1024 * (rss - rss_was) / added:.1f} KiB per added connection" if added > 0 else ""
        print(f"  process {pid}: RSS {rss_was:.1f} -> {rss:.1f} MiB, connections {held_was} -> {held}{each}")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def sockstat() -> str:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            values = dict(zip(fields[1::2], fields[2::2], strict=False))
            return (
                f"TCP sockets in use {values.get('inuse')}, TCP memory {int(values.get('mem', 0)) * 4 / 1024:.1f} MiB"
            )
    return "?"


def idle_window(servers: sse_load.Servers, seconds: float) -> tuple[float, float]:
    """CPU seconds per minute of Parley and of its PostgreSQL over `seconds`."""
    parley_before = cpu_seconds(sse_load.parley_processes(servers))
    postgres_before = cpu_seconds(servers.postgres())
    time.sleep(seconds)
    parley = cpu_seconds(sse_load.parley_processes(servers)) - parley_before
    postgres = cpu_seconds(servers.postgres()) - postgres_before
    return 60 * parley / seconds, 60 * postgres / seconds


async def start_answers(servers: sse_load.Servers, count: int) -> tuple[list[str], list[asyncio.Transport]]:
    """`count` chats whose answers are running (waiting for the mock's first token); their streams stay open."""
    loop = asyncio.get_running_loop()
    ids: list[str] = []
    transports: list[asyncio.Transport] = []

    class Asker(asyncio.Protocol):
        def __init__(self, request: bytes, got: asyncio.Future[bytes]) -> None:
            self.request, self.got, self.head = request, got, b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(self.request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            self.head += data
            if b'"conversation_id":"' in self.head and not self.got.done():
                self.got.set_result(self.head)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.got.done():
                self.got.set_exception(RuntimeError(f"closed: {self.head[:300]!r}"))

    async def ask(n: int) -> None:
        got: asyncio.Future[bytes] = loop.create_future()
        request = sse_load.parley_request(servers.parley_port, servers.api_key, None, f"Idle question {n}")
        transport, _ = await loop.create_connection(lambda: Asker(request, got), sse_load.HOST, servers.parley_port)
        head = await asyncio.wait_for(got, 60)
        ids.append(sse_load._conversation_id(head))
        transports.append(transport)  # type: ignore[arg-type]

    gate = asyncio.Semaphore(20)

    async def gated(n: int) -> None:
        async with gate:
            await ask(n)

    await asyncio.gather(*(gated(n) for n in range(count)))
    return ids, transports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=200, help="running (silent) answers the clients attach to")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=200, help="connections being opened at once per process")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep-workdir", action="store_true", help="keep the servers' logs")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    hard = raise_fd_limit()  # inherited by the servers started below
    print(
        f"B4: {args.clients} idle resume streams over {args.answers} running answers, --workers {args.workers}, "
        f"open-file limit {hard}, load average {sse_load.load_average()}",
        flush=True,
    )
    loop = asyncio.new_event_loop()
    with sse_load.servers(
        first_token_ms=3_600_000,
        tokens_per_second=0,
        reply="never sent",
        workers=args.workers,
        model_options={"timeout_seconds": 3600},
        keep_workdir=args.keep_workdir,
    ) as servers:
        ids, askers = loop.run_until_complete(start_answers(servers, args.answers))
        time.sleep(5)
        processes = sse_load.parley_processes(servers)
        rss_before = rss_mib(processes)
        each_before = rss_and_connections(processes, servers.parley_port)
        print(f"{len(ids)} answers running; Parley RSS {rss_before:.1f} MiB ({len(processes)} processes); {sockstat()}")
        base_parley, base_pg = idle_window(servers, args.idle_seconds)
        print(
            f"baseline ({args.idle_seconds:.0f} s, load average {sse_load.load_average()}): Parley "
            f"{base_parley:.2f} CPU s/min, PostgreSQL {base_pg:.2f} CPU s/min",
            flush=True,
        )
        # The clients: conversation ids spread evenly, one process per share.
        workdir = servers.workdir
        clients: list[subprocess.Popen[str]] = []
        per_process = [args.clients // args.client_processes] * args.client_processes
        per_process[0] += args.clients - sum(per_process)
        offset = 0
        t0 = time.monotonic()
        for index, share in enumerate(per_process):
            targets = [ids[(offset + i) % len(ids)] for i in range(share)]
            offset += share
            path = workdir / f"targets-{index}.json"
            path.write_text(json.dumps(targets))
            clients.append(
                subprocess.Popen(  # noqa: S603 (this script, as a client process)
                    [
                        sse_load.PYTHON,
                        __file__,
                        "--client",
                        "--port",
                        str(servers.parley_port),
                        "--key",
                        servers.api_key,
                        "--targets",
                        str(path),
                        "--parallel",
                        str(args.parallel),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        statuses: dict[str, int] = {}
        errors: dict[str, int] = {}
        for client in clients:
            assert client.stdout is not None
            report = json.loads(client.stdout.readline())
            for k, v in report["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
            for k, v in report["errors"].items():
                errors[k] = errors.get(k, 0) + v
        connected = statuses.get("200", 0)
        print(
            f"connected in {time.monotonic() - t0:.1f} s: statuses {statuses}, errors {errors or 0}; {sockstat()}",
            flush=True,
        )
        time.sleep(5)
        processes = sse_load.parley_processes(servers)
        rss_connected = rss_mib(processes)
        print_per_process(each_before, rss_and_connections(processes, servers.parley_port))
        idle_parley, idle_pg = idle_window(servers, args.idle_seconds)
        rss_after = rss_mib(sse_load.parley_processes(servers))
        for client in clients:
            assert client.stdin is not None
            client.stdin.close()
        still_open = 0
        received = 0
        for client in clients:
            assert client.stdout is not None
            line = client.stdout.readline()
            client.wait(timeout=60)
            if line:
                report = json.loads(line)
                still_open += report["open"]
                received += report["bytes_after_head"]
                if report["sample"]:
                    print(f"a client received while idle: {report['sample']!r}")
        delta = rss_connected - rss_before
        print(
            f"idle ({args.idle_seconds:.0f} s, load average {sse_load.load_average()}): Parley {idle_parley:.2f} CPU "
            f"s/min, PostgreSQL {idle_pg:.2f} CPU s/min; still open at the end {still_open}, bytes received while "
            f"idle {received}"
        )
        print(
            f"Parley RSS: {rss_before:.1f} MiB before, {rss_connected:.1f} MiB with {connected} connected "
            f"({rss_after:.1f} MiB after the idle window): {1024 * delta / max(1, connected):.1f} KiB per connection"
        )
        print(
            f"idle clients cost: {idle_parley - base_parley:+.2f} CPU s/min of Parley, {idle_pg - base_pg:+.2f} of "
            f"PostgreSQL (over the baseline of the {len(ids)} running answers)"
        )
        for transport in askers:
            transport.abort()
    loop.close()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
