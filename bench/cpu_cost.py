"""What one chat and one streamed token cost Parley in CPU time, and how many SQL statements a chat makes.

Latency figures (B1, B2) depend on whatever else runs on the machine; CPU time spent by the Parley process
depends far less on it, so this script is the one to compare two versions of the code with on a shared box.
It starts the mock upstream and a `parley serve` (as B1/B2 do), then measures:

1. **statements per chat**: PostgreSQL logs every statement (`log_statement = all`, switched on for this phase
   only) while `--statement-chats` chats run one after another into conversations with history; the log lines
   are counted per kind (transactions, SELECT, INSERT, UPDATE…).
2. **CPU per chat**: `--chats` one-token chats into conversations with history, `--chat-concurrency` at a
   time; Parley's (and PostgreSQL's) CPU seconds over the phase, per chat.
3. **CPU per token**: `--streams` concurrent streams at 20 tok/s (new conversations, started over a ramp);
   once all are running, Parley's CPU seconds over a `--window`-second window divided by the tokens the
   clients received in it.
4. **garbage-collector pauses**: a `sitecustomize` probe in the Parley process (not part of Parley) records
   the duration of each collection; the longest per generation are printed.

Run: `.venv/bin/python bench/cpu_cost.py` (~2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sse_load import (
    PARLEY_END,
    PARLEY_ERROR,
    PARLEY_TOKEN,
    Servers,
    StreamResult,
    install_uvloop,
    load_average,
    open_conversations,
    parley_processes,
    parley_request,
    percentile,
    servers,
    stream_once,
)

_GC_PROBE = """
import atexit, gc, json, os, time
_path = os.environ["PARLEY_BENCH_GC_FILE"]
_state = {"start": 0.0, "max": [0.0, 0.0, 0.0], "total": [0.0, 0.0, 0.0], "count": [0, 0, 0], "over_20ms": 0,
          "pauses": []}
def _probe(phase, info):
    if phase == "start":
        _state["start"] = time.perf_counter()
        return
    took = time.perf_counter() - _state["start"]
    gen = info["generation"]
    _state["max"][gen] = max(_state["max"][gen], took)
    _state["total"][gen] += took
    _state["count"][gen] += 1
    if took > 0.02:
        _state["over_20ms"] += 1
    if took > 0.002:
        _state["pauses"].append([time.time(), gen, took])
def _dump():
    with open(_path, "w") as f:
        json.dump(_state, f)
gc.callbacks.append(_probe)
atexit.register(_dump)
import signal, threading
def _writer():
    while True:
        time.sleep(1.0)
        _dump()
threading.Thread(target=_writer, daemon=True).start()
"""

_STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)")


def reply(tokens: int) -> str:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    return " ".join(words[i % len(words)] for i in range(tokens))


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def parley_seconds(s: Servers) -> float:
    total = 0.0
    for process in parley_processes(s):
        try:
            total += cpu_seconds(process)
        except psutil.Error:
            continue
    return total


def postgres_seconds(s: Servers) -> float:
    total = 0.0
    for process in s.postgres():
        try:
            total += cpu_seconds(process)
        except psutil.Error:
            continue
    return total


async def _admin_connection(s: Servers) -> asyncpg.Connection:
    pgdata = s.workdir / "data" / "postgres"
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return await asyncpg.connect(host=lines[4], port=int(lines[3]), user="postgres", database="parley")


async def count_statements(s: Servers, conversations: list[str], chats: int, *, verbose: bool) -> Counter[str]:
    log = s.workdir / "data" / "postgres" / "log"
    admin = await _admin_connection(s)
    try:
        await admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        await admin.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        offset = log.stat().st_size
        for index in range(chats):
            await one_chat(s, conversations[index % len(conversations)])
        await asyncio.sleep(1.0)  # the finalisation runs after the last event
        await admin.execute("ALTER SYSTEM RESET log_statement")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()
    kinds: Counter[str] = Counter()
    with log.open(errors="replace") as handle:
        handle.seek(offset)
        for line in handle:
            match = _STATEMENT.search(line)
            if match is None:
                continue
            statement = match.group(1).strip()
            if "log_statement" in statement or "pg_reload_conf" in statement:
                continue
            kinds[statement.split()[0].rstrip(";").upper() if statement else "?"] += 1
            if verbose:
                print("   ", statement[:160])
    return kinds


async def one_chat(s: Servers, conversation: str) -> StreamResult:
    request = parley_request(s.parley_port, s.api_key, conversation, "Hello there, one more question.", max_tokens=1)
    result = await stream_once(s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR)
    if not result.ok:
        raise SystemExit(f"a chat failed: {result.error}")
    return result


class Profiler:
    """`py-spy record` on the Parley process for a phase (collapsed stacks), when `--py-spy` names an executable."""

    def __init__(self, executable: str | None, out_dir: Path, pid: int) -> None:
        self.executable, self.out_dir, self.pid = executable, out_dir, pid
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, name: str) -> None:
        if self.executable:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            command = [self.executable, "record", "-p", str(self.pid), "-f", "raw", "-r", "200", "--nonblocking"]
            self._process = subprocess.Popen(  # noqa: S603 (a profiler the operator named)
                [*command, "-o", str(self.out_dir / f"{name}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(2)
            self._process.wait(timeout=30)
            self._process = None


PROFILER: Profiler | None = None
# Wall-clock (time.time) spans of the measured phases, for the GC probe's timestamps.
PHASES: dict[str, tuple[float, float]] = {}


async def per_chat(s: Servers, conversations: list[str], chats: int, concurrency: int) -> tuple[float, float, float]:
    pending = iter(range(chats))
    ttfts: list[float] = []

    async def worker(index: int) -> None:
        for _ in pending:
            result = await one_chat(s, conversations[index])
            if result.ttft is not None:
                ttfts.append(result.ttft)

    await asyncio.sleep(1.5)  # let the previous phase's finalisations settle
    before, pg_before = parley_seconds(s), postgres_seconds(s)
    if PROFILER:
        PROFILER.start("chat")
    started = time.time()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    await asyncio.sleep(0.5)
    PHASES["chat"] = (started, time.time())
    if PROFILER:
        PROFILER.stop()
    return (
        (parley_seconds(s) - before) / chats,
        (postgres_seconds(s) - pg_before) / chats,
        percentile(ttfts, 0.5),
    )


async def per_token(s: Servers, streams: int, window: float, ramp: float, tokens: int) -> dict[str, float]:

    async def stream(index: int) -> StreamResult:
        await asyncio.sleep(ramp * index / streams)
        request = parley_request(s.parley_port, s.api_key, None, "Tell me a long story.", max_tokens=tokens)
        return await stream_once(
            s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR, limit_seconds=300
        )

    started = time.time()
    tasks = [asyncio.create_task(stream(i)) for i in range(streams)]
    await asyncio.sleep(ramp + 2.0)
    start_wall = time.perf_counter()
    before, pg_before = parley_seconds(s), postgres_seconds(s)
    if PROFILER:
        PROFILER.start("token")
    await asyncio.sleep(window)
    end_wall = time.perf_counter()
    if PROFILER:
        PROFILER.stop()
    spent, pg_spent = parley_seconds(s) - before, postgres_seconds(s) - pg_before
    results = await asyncio.gather(*tasks)
    PHASES["streaming (ramp and window)"] = (started, time.time())
    received = sum(1 for r in results for t in r.token_times if start_wall <= t < end_wall)
    gaps = [b - a for r in results for a, b in itertools.pairwise(r.token_times) if start_wall <= b < end_wall]
    errors = sum(1 for r in results if not r.ok)
    return {
        "tokens": received,
        "parley_us_per_token": 1e6 * spent / max(1, received),
        "postgres_us_per_token": 1e6 * pg_spent / max(1, received),
        "parley_cpu_percent": 100 * spent / window,
        "p99_gap_ms": 1000 * percentile(gaps, 0.99),
        "max_gap_ms": 1000 * max(gaps, default=float("nan")),
        "errors": errors,
    }


def read_gc_probe(gc_file: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(gc_file.read_text()))
    except (OSError, ValueError):
        return None


async def run(s: Servers, args: argparse.Namespace, gc_file: Path) -> None:
    global PROFILER
    PROFILER = Profiler(args.py_spy, Path(args.profile_dir), s.parley.pid)
    conversations = await open_conversations(s, args.chat_concurrency)
    for conversation in conversations:  # warm-up: pools, caches, lazily loaded modules
        await one_chat(s, conversation)
    kinds = await count_statements(s, conversations, args.statement_chats, verbose=args.show_statements)
    total = sum(kinds.values())
    transactions = kinds.get("BEGIN", 0)
    print(
        f"statements per chat: {total / args.statement_chats:.1f} "
        f"(transactions {transactions / args.statement_chats:.1f}; "
        + ", ".join(f"{k} {v / args.statement_chats:.1f}" for k, v in kinds.most_common())
        + ")"
    )
    parley_chat, pg_chat, ttft = await per_chat(s, conversations, args.chats, args.chat_concurrency)
    print(
        f"CPU per chat ({args.chats} one-token chats, {args.chat_concurrency} at a time): Parley "
        f"{parley_chat * 1000:.2f} ms, PostgreSQL {pg_chat * 1000:.2f} ms (client-side TTFT p50 {ttft * 1000:.1f} ms)"
    )
    figures = await per_token(s, args.streams, args.window, args.ramp, args.stream_tokens)
    print(
        f"CPU per token ({args.streams} streams at 20 tok/s, {args.window:g} s window, {figures['tokens']:.0f} "
        f"tokens): Parley {figures['parley_us_per_token']:.1f} µs ({figures['parley_cpu_percent']:.0f}% of a core), "
        f"PostgreSQL {figures['postgres_us_per_token']:.1f} µs; gap p99 {figures['p99_gap_ms']:.1f} ms, "
        f"max {figures['max_gap_ms']:.1f} ms; stream errors {figures['errors']:.0f}"
    )
    await asyncio.sleep(1.5)
    state = read_gc_probe(gc_file)
    if state is not None:
        for name, (start, end) in PHASES.items():
            pauses = [p for p in state["pauses"] if start <= p[0] <= end]
            longest = max(pauses, key=lambda p: p[2], default=None)
            print(
                f"GC pauses over 2 ms during the {name} phase: {len(pauses)}"
                + (f", longest {longest[2] * 1000:.1f} ms (generation {longest[1]})" if longest else "")
            )
        print(
            "GC in Parley (whole run, start-up included): longest pause per generation "
            + ", ".join(f"gen{g} {state['max'][g] * 1000:.1f} ms ({state['count'][g]} runs)" for g in range(3))
            + f"; pauses over 20 ms: {state['over_20ms']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statement-chats", type=int, default=20)
    parser.add_argument("--chats", type=int, default=400)
    parser.add_argument("--chat-concurrency", type=int, default=20)
    parser.add_argument("--streams", type=int, default=250)
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the streams start")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--show-statements", action="store_true", help="print every statement of phase 1")
    parser.add_argument("--py-spy", help="path of a py-spy executable: profile phases 2 and 3 (collapsed stacks)")
    parser.add_argument("--profile-dir", default="profiles", help="where the py-spy profiles go")
    parser.add_argument("--src", help="run Parley from this source dir (holding `parley/`), e.g. an older version")
    parser.add_argument(
        "--pii-policy",
        choices=["off", "mask", "pseudonymise", "block"],
        help="the mock model's pii_policy (README, 'PII'); unset: the default for a remote, untrusted model",
    )
    args = parser.parse_args()
    args.stream_tokens = int((args.ramp + 2.0 + args.window + 3.0) * 20)
    loop = install_uvloop()
    print(f"CPU cost of a chat and of a token — {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}; load generator on {loop}")
    probe_dir = Path(tempfile.mkdtemp(prefix="parley-gc-probe-"))
    (probe_dir / "sitecustomize.py").write_text(_GC_PROBE)
    gc_file = probe_dir / "gc.json"
    path = [str(probe_dir)] + ([str(Path(args.src).resolve())] if args.src else [])
    env = {"PYTHONPATH": os.pathsep.join(path), "PARLEY_BENCH_GC_FILE": str(gc_file)}
    print(f"PII policy of the model: {args.pii_policy or 'the default for an untrusted model'}")
    with servers(
        first_token_ms=0,
        tokens_per_second=20,
        reply=reply(2000),
        keep_workdir=args.keep_workdir,
        parley_env=env,
        model_options={"pii_policy": args.pii_policy} if args.pii_policy else None,
    ) as started:
        asyncio.run(run(started, args, gc_file))
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
