"""B3: non-streamed chats per second through the full path, with persistence (issue 13).

    .venv/bin/python bench/b3_throughput.py [--seconds 20] [--concurrency 64] [--rounds 2] [--workers 1,2]

`POST /api/v1/chat` with `stream: false` (the chat API that stores the conversation: `/v1/chat/completions` is
stateless and stores nothing), into conversations that already hold an exchange, read to the end of the JSON
answer. The mock upstream answers at once (no first-token delay, no pacing), so what is measured is Parley:
API-key authentication, the plan's limits, the conversation locked and its history read, both messages inserted and
committed, the upstream call, the answer saved, the usage recorded.

Every `--workers` value gets its own `parley serve` (with its own embedded PostgreSQL; `--workers 2` with a
throwaway Redis), all started before the first measurement; the phases then alternate between them, `--rounds`
times, so the ratio between them comes from the same minutes of a shared machine. Load: closed loop, `--concurrency`
clients in this process (asyncio protocols on uvloop, `bench/sse_load.py`), each taking the next free conversation
from a pool (one answer per conversation at a time), one connection per request. Latency: request written to
the answer's last byte. Prints req/s, p50/p99, errors and the CPU of Parley (all its processes), its PostgreSQL,
the mock, the load generator and the rest of the machine (% of one core), with the load average.

`--py-spy PATH` records each phase of the last round with py-spy (collapsed stacks, `PATH-w<N>.txt`, all of
Parley's processes) when the `py-spy` binary is available.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sse_load

END = b'"finish_reason":"stop"'
CONTENT = b'"content":'


async def phase(
    servers: sse_load.Servers, conversations: list[str], *, seconds: float, concurrency: int
) -> tuple[int, list[float], dict[str, int], float]:
    """Closed loop for `seconds`: completed chats, their latencies, errors by kind, elapsed time."""
    pool: asyncio.Queue[str] = asyncio.Queue()
    for conversation in conversations:
        pool.put_nowait(conversation)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + seconds
    counter = 0

    async def client() -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            conversation = await pool.get()
            counter += 1
            request = sse_load.parley_request(
                servers.parley_port, servers.api_key, conversation, f"Question {counter}: how are you?", stream=False
            )
            result = await sse_load.stream_once(
                servers.parley_port, request, token=CONTENT, end=END, limit_seconds=60, keep=400
            )
            pool.put_nowait(conversation)
            if result.ok:
                latencies.append(time.perf_counter() - result.sent_at)
            else:
                kind = result.error or "?"
                if kind == "stream ended early":
                    kind += f" {result.head.partition(b'{')[2][:120]!r}"
                errors[kind] = errors.get(kind, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(latencies), latencies, errors, time.perf_counter() - started


@contextlib.contextmanager
def profiling(path: str | None, servers: sse_load.Servers, suffix: str, seconds: float):  # type: ignore[no-untyped-def]
    spy = shutil.which("py-spy") or str(Path(sse_load.PYTHON).parent / "py-spy")
    if not path or not Path(spy).exists():
        yield
        return
    processes = sse_load.parley_processes(servers)
    # The worker processes with --workers N (the supervisor only waits), else the one process.
    targets = processes[1:] or processes
    records = []
    for index, process in enumerate(targets):
        out = f"{path}-{suffix}-{index}.txt"
        records.append(
            subprocess.Popen(  # noqa: S603 (the profiler on our own server)
                [
                    spy,
                    "record",
                    "--pid",
                    str(process.pid),
                    "--format",
                    "raw",
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--output",
                    out,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        yield
    finally:
        for record in records:
            with contextlib.suppress(subprocess.TimeoutExpired):
                record.wait(timeout=seconds + 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    parser.add_argument("--concurrency", type=int, default=64, help="clients in the closed loop")
    parser.add_argument("--conversations", type=int, default=400, help="conversations in each server's pool")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="comma-separated `parley serve --workers` values")
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--py-spy", default=None, metavar="PATH", help="profile the last round's phases")
    parser.add_argument(
        "--pii-policy",
        choices=["off", "mask", "pseudonymise", "block"],
        help="the mock model's pii_policy (README, 'PII'); unset: the default for a remote, untrusted model",
    )
    args = parser.parse_args()
    loop_kind = sse_load.install_uvloop()
    workers = [int(w) for w in args.workers.split(",")]
    print(
        f"B3: closed loop, {args.concurrency} clients ({loop_kind}), {args.seconds:.0f} s phases, "
        f"workers {workers}, PII policy {args.pii_policy or 'default'}, load average {sse_load.load_average()}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        started: dict[int, sse_load.Servers] = {}
        for count in workers:
            t0 = time.monotonic()
            started[count] = stack.enter_context(
                sse_load.servers(
                    first_token_ms=0,
                    tokens_per_second=0,
                    reply="Fine, thank you.",
                    workers=count,
                    model_options={"pii_policy": args.pii_policy} if args.pii_policy else None,
                )
            )
            print(f"  parley serve --workers {count}: up in {time.monotonic() - t0:.1f} s", flush=True)
        pools: dict[int, list[str]] = {}
        for count, servers in started.items():
            pools[count] = asyncio.run(sse_load.open_conversations(servers, args.conversations, concurrency=32))
            asyncio.run(phase(servers, pools[count], seconds=args.warmup_seconds, concurrency=args.concurrency))
        print(
            "| round | workers | chats/s | p50 ms | p99 ms | errors | Parley CPU | PostgreSQL | mock | loadgen | other "
            "| load average |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for round_number in range(1, args.rounds + 1):
            for count, servers in started.items():
                meter = sse_load.cpu_meter(servers)
                spy = args.py_spy if round_number == args.rounds else None
                with profiling(spy, servers, f"w{count}", args.seconds):
                    meter.start()
                    done, latencies, errors, elapsed = asyncio.run(
                        phase(servers, pools[count], seconds=args.seconds, concurrency=args.concurrency)
                    )
                    cpu = meter.read()
                error_text = ", ".join(f"{n}x {kind}" for kind, n in errors.items()) or "0"
                print(
                    f"| {round_number} | {count} | {done / elapsed:.1f} | "
                    f"{1000 * sse_load.percentile(latencies, 0.5):.1f} | "
                    f"{1000 * sse_load.percentile(latencies, 0.99):.1f} | {error_text} | "
                    f"{cpu['parley']:.0f}% | {cpu['postgres']:.0f}% | {cpu['mock']:.0f}% | {cpu['loadgen']:.0f}% | "
                    f"{cpu['other']:.0f}% | {sse_load.load_average()} |",
                    flush=True,
                )
                if done:
                    per_chat = 10 * (cpu["parley"] * elapsed) / done  # % of a core * s -> ms per chat
                    print(
                        f"|   | (Parley CPU per chat {per_chat:.1f} ms, PostgreSQL "
                        f"{10 * cpu['postgres'] * elapsed / done:.1f} ms) | | | | | | | | | | |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
