"""B2 — how many concurrent streams at 20 tokens/s Parley holds with a p99 gap between tokens of at most 75 ms.

Starts the mock upstream (first token after ~50 ms, then 20 tokens/s) and a `parley serve` (embedded PostgreSQL
in a temporary data dir) whose model `mock` is that upstream through the OpenAI provider. Then it raises the
concurrency step by step (100, 175, 250, 375, 500, 750, 1000, 1500, 2000, 3000 by default). Each step runs
twice: first straight against the mock (the reference: what the machine, the mock and the load generator do
on their own at that concurrency), then through Parley (`POST /api/v1/chat`, stream, API key, a new
conversation per stream).

In a step, the streams start spread evenly over a ramp (50 new streams a second: Parley's cost per new chat
is what B1 measures, not what this measures), everyone streams through a 5-second window, then the answers
end. The gaps between consecutive tokens arriving at the client inside the window are the figure; a stream
that gets nothing in the window counts as an error. It stops at the first step whose Parley p99 gap exceeds
75 ms or that has errors, or when the next step would not fit the time budget (~5 minutes).

The load generator runs in this process and competes with Parley, PostgreSQL and the mock for the same
cores; the direct row of each step shows how much of the gap is theirs. Prints figures only; see
bench/README.md. Run: `.venv/bin/python bench/b2_concurrent_streams.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import time

from sse_load import (
    MOCK_END,
    MOCK_TOKEN,
    PARLEY_END,
    PARLEY_ERROR,
    PARLEY_TOKEN,
    CpuMeter,
    Servers,
    StreamResult,
    cpu_meter,
    http_request,
    install_uvloop,
    load_average,
    parley_request,
    percentile,
    servers,
    stream_once,
)

GAP_LIMIT = 0.075
SETTLE_SECONDS = 2.0
WINDOW_SECONDS = 5.0
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def step_plan(concurrency: int, tokens_per_second: float, ramp_per_second: float) -> tuple[float, int, float]:
    """(ramp seconds, tokens per answer, seconds the step takes on one side)."""
    ramp = max(1.0, concurrency / ramp_per_second)
    answer_seconds = ramp + SETTLE_SECONDS + WINDOW_SECONDS + 1.0
    return ramp, int(answer_seconds * tokens_per_second), ramp + answer_seconds + 2.0


def direct_request(port: int, tokens: int) -> bytes:
    return http_request(
        port,
        "/v1/chat/completions",
        {
            "model": "parley-mock",
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": tokens,
        },
    )


class Measured:
    def __init__(self, results: list[StreamResult], window: tuple[float, float], cpu: dict[str, float]) -> None:
        start, end = window
        self.gaps: list[float] = []
        self.active = 0
        self.errors: list[str] = []
        for result in results:
            times = result.token_times
            inside = [i for i, t in enumerate(times) if start <= t <= end]
            if not inside:
                self.errors.append(result.error or "no token in the window")
                continue
            if not result.ok:
                self.errors.append(result.error or "?")
            self.active += 1
            # Each token in the window against the one before it (which may precede the window).
            self.gaps.extend(times[i] - times[i - 1] for i in inside if i > 0)
        self.cpu = cpu

    @property
    def p99(self) -> float:
        return percentile(self.gaps, 0.99)

    def row(self, concurrency: int, label: str) -> str:
        cpu = self.cpu
        return (
            f"{concurrency:>6} {label:7} {self.active:>6} {percentile(self.gaps, 0.5) * 1000:>7.1f} "
            f"{self.p99 * 1000:>7.1f} {max(self.gaps, default=0) * 1000:>8.1f} {len(self.errors):>6} "
            f"{cpu['parley']:>6.0f}% {cpu['postgres']:>5.0f}% {cpu['mock']:>5.0f}% {cpu['loadgen']:>7.0f}% "
            f"{cpu['other']:>5.0f}%"
        )


async def run_side(side: str, s: Servers, concurrency: int, args: argparse.Namespace, meter: CpuMeter) -> Measured:
    tokens_per_second = args.tokens_per_second
    ramp, tokens, _ = step_plan(concurrency, tokens_per_second, args.ramp_per_second)
    if side == "direct":
        request = direct_request(s.mock_port, tokens)
        port, token, end, error = s.mock_port, MOCK_TOKEN, MOCK_END, None
    else:
        request = parley_request(s.parley_port, s.api_key, None, "Tell me a long story.", max_tokens=tokens)
        port, token, end, error = s.parley_port, PARLEY_TOKEN, PARLEY_END, PARLEY_ERROR
    started = time.perf_counter()
    window = (started + ramp + SETTLE_SECONDS, started + ramp + SETTLE_SECONDS + WINDOW_SECONDS)
    limit = ramp + tokens / tokens_per_second + 60

    async def one(index: int) -> StreamResult:
        await asyncio.sleep(ramp * index / concurrency)
        return await stream_once(port, request, token=token, end=end, error=error, limit_seconds=limit)

    async def measure_cpu() -> dict[str, float]:
        await asyncio.sleep(window[0] - time.perf_counter())
        meter.start()
        await asyncio.sleep(window[1] - time.perf_counter())
        return meter.read()

    cpu_task = asyncio.create_task(measure_cpu())
    results = await asyncio.gather(*(one(i) for i in range(concurrency)))
    return Measured(list(results), window, await cpu_task)


async def run(s: Servers, args: argparse.Namespace) -> None:
    meter = cpu_meter(s)
    deadline = time.monotonic() + args.budget_seconds
    # Warm-up: connection pools, caches, the tokenizer table.
    await run_side("parley", s, 20, args, meter)
    print()
    print(
        f"{'conc.':>6} {'side':7} {'active':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'errors':>6} "
        f"{'Parley':>7} {'PG':>6} {'mock':>6} {'loadgen':>8} {'other':>6}"
    )
    held = 0
    for concurrency in args.steps:
        _, _, seconds = step_plan(concurrency, args.tokens_per_second, args.ramp_per_second)
        if time.monotonic() + 2 * seconds > deadline:
            print(f"{concurrency:>6} (skipped: would not finish within the {args.budget_seconds:.0f} s budget)")
            break
        direct = await run_side("direct", s, concurrency, args, meter)
        print(direct.row(concurrency, "direct"), flush=True)
        parley = await run_side("parley", s, concurrency, args, meter)
        print(parley.row(concurrency, "Parley"), flush=True)
        errors = parley.errors
        if errors:
            print(f"       errors: {sorted(set(errors))[:5]}")
        if errors or parley.p99 > GAP_LIMIT:
            break
        held = concurrency
    print()
    print(
        f"B2 most concurrent streams held at {args.tokens_per_second:g} tok/s with p99 gap <= 75 ms: "
        f"{held if held else f'fewer than {args.steps[0]}'}  (target on 2 cores: >= 2,000)"
    )
    print("   gaps are client-side, over a 5 s window with every stream of the step open; CPU is the share of one core")
    print("   during that window; the load generator (this process) and the mock share the 2 cores with Parley;")
    print("   `other` is the rest of the machine meanwhile (other people's work: the noise)")
    print(f"   load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 175, 250, 375, 500, 750, 1000, 1500, 2000, 3000])
    parser.add_argument("--tokens-per-second", type=float, default=20)
    parser.add_argument("--first-token-ms", type=float, default=50)
    parser.add_argument("--ramp-per-second", type=float, default=50, help="new streams a second while ramping")
    parser.add_argument("--budget-seconds", type=float, default=330, help="stop before a step that would overrun")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the data dir and the servers' logs")
    args = parser.parse_args()
    loop = install_uvloop()
    print(f"B2 concurrent streams Parley holds — {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_average()}; load generator: this process ({loop}), "
        "sharing the cores with Parley, PostgreSQL and the mock (see the direct rows)"
    )
    longest = max(step_plan(c, args.tokens_per_second, args.ramp_per_second)[1] for c in args.steps)
    with servers(
        first_token_ms=max(0.0, args.first_token_ms - 1000 / args.tokens_per_second),
        tokens_per_second=args.tokens_per_second,
        reply=" ".join(WORDS[i % len(WORDS)] for i in range(longest + 10)),
        keep_workdir=args.keep_workdir,
    ) as started:
        asyncio.run(run(started, args))


if __name__ == "__main__":
    main()
