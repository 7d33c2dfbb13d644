"""B1 — the time to first token that Parley adds over calling its upstream directly, at 100 concurrent streams.

Starts the mock upstream (`python -m parley.testing.mock_llm`, first token after 50 ms, then 20 tokens/s) and
a `parley serve` (embedded PostgreSQL in a temporary data dir) whose model `mock` is that upstream through the
OpenAI provider. Then it measures, client-side, from writing the request to the first token:

- **direct**: `POST /v1/chat/completions` (stream) on the mock, to its first content chunk;
- **Parley**: `POST /api/v1/chat` (stream) with an API key, into a conversation that already has history, to
  the first `event: delta` — the full path: authentication, loading the conversation and its history,
  saving the user's message, the upstream call, and (after the first token) saving the answer.

Both sides run the same number of requests at the same concurrency, in alternating phases (the machine is
shared and noisy: alternating spreads its noise over both). `--concurrency` workers each send requests back to
back for the whole run, starting staggered over one answer's duration, so the load is that many streams
throughout; each worker switches side after `--per-worker` requests. Answers are 100 tokens (5 s) by default:
with 100 streams that is 20 new chats a second. Prints figures only; see bench/README.md.
Run: `.venv/bin/python bench/b1_ttft_overhead.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import tempfile
import time
from pathlib import Path

import chat_path_probe
from sse_load import (
    MOCK_END,
    MOCK_TOKEN,
    PARLEY_END,
    PARLEY_ERROR,
    PARLEY_TOKEN,
    Servers,
    StreamResult,
    cpu_meter,
    install_uvloop,
    load_average,
    mock_request,
    open_conversations,
    parley_request,
    percentile,
    servers,
    stream_once,
)

QUESTION = "What is a good name for a fox that jumps over dogs?"
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "and",
    "then",
    "naps",
    "in",
    "the",
    "warm",
    "afternoon",
    "sun",
]


def reply(tokens: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens))


async def one(side: str, s: Servers, conversation: str) -> StreamResult:
    if side == "direct":
        return await stream_once(s.mock_port, mock_request(s.mock_port, QUESTION), token=MOCK_TOKEN, end=MOCK_END)
    request = parley_request(s.parley_port, s.api_key, conversation, QUESTION)
    return await stream_once(s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


async def run(s: Servers, args: argparse.Namespace) -> None:
    stream_seconds = args.first_token_ms / 1000 + args.answer_tokens / args.tokens_per_second
    started = time.monotonic()
    conversations = await open_conversations(s, args.concurrency)
    print(f"setup: {len(conversations)} conversations with one exchange each ({time.monotonic() - started:.1f} s)")

    # (round, side) -> results. Round -1 is the untimed warm-up (pools, caches, the tokenizer table).
    results: dict[tuple[int, str], list[StreamResult]] = {}

    async def worker(index: int) -> None:
        # Staggered starts, then back to back: the load stays at `concurrency` streams from start to end,
        # and each worker moves to the other side on its own, so the switch-overs are gradual.
        await asyncio.sleep(stream_seconds * index / args.concurrency)
        for number in range(-1, args.rounds):
            for side in ("direct", "parley") if number % 2 == 0 else ("parley", "direct"):
                for _ in range(1 if number < 0 else args.per_worker):
                    result = await one(side, s, conversations[index])
                    results.setdefault((number, side), []).append(result)

    meter = cpu_meter(s)
    meter.start()
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    cpu = meter.read()
    elapsed = time.monotonic() - started

    print()
    print(f"{'':8} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    figures: dict[str, tuple[float, float]] = {}
    for side, label in (("direct", "direct"), ("parley", "Parley")):
        batch = [r for (number, kind), rs in results.items() if number >= 0 and kind == side for r in rs]
        ttfts = [r.ttft for r in batch if r.ok and r.ttft is not None]
        errors = [r.error for r in batch if not r.ok]
        p50, p90, p99 = (percentile(ttfts, q) for q in (0.5, 0.9, 0.99))
        figures[side] = (p50, p99)
        print(f"{label:8} {len(batch):8d} {len(errors):6d} {ms(p50)} {ms(p90)} {ms(p99)} {ms(max(ttfts, default=0))}")
        if errors:
            print(f"         errors: {sorted({e or '?' for e in errors})}")
    added_p50 = figures["parley"][0] - figures["direct"][0]
    added_p99 = figures["parley"][1] - figures["direct"][1]
    print()
    print(f"B1 Parley's added time to first token: p50 {added_p50 * 1000:.1f} ms, p99 {added_p99 * 1000:.1f} ms")
    print("   (target on 2 cores: <= 5 ms p50, <= 15 ms p99 added)")
    spread = []
    for number in range(args.rounds):
        direct = [r.ttft for r in results.get((number, "direct"), []) if r.ok and r.ttft is not None]
        parley = [r.ttft for r in results.get((number, "parley"), []) if r.ok and r.ttft is not None]
        spread.append((percentile(parley, 0.5) - percentile(direct, 0.5)) * 1000)
    print(
        f"   added p50 round by round (the noise): {', '.join(f'{x:.1f}' for x in spread)} ms "
        f"(min {min(spread):.1f}, max {max(spread):.1f})"
    )
    print(
        f"   CPU over the run ({elapsed:.0f} s, % of one core): "
        + ", ".join(f"{name} {value:.0f}%" for name, value in cpu.items())
    )
    print(f"   load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of direct and Parley phases")
    parser.add_argument("--per-worker", type=int, default=2, help="requests per stream slot per phase")
    parser.add_argument("--first-token-ms", type=float, default=50, help="the mock's time to first token")
    parser.add_argument("--tokens-per-second", type=float, default=20)
    parser.add_argument("--answer-tokens", type=int, default=100, help="tokens per answer (100: 5 s at 20 tok/s)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the data dir and the servers' logs")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the spans of the chat path inside Parley (bench/chat_path_probe.py) and print them",
    )
    args = parser.parse_args()
    loop = install_uvloop()
    print(f"B1 time to first token added by Parley — {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_average()}; load generator: this process ({loop}), "
        f"sharing the cores with Parley, PostgreSQL and the mock"
    )
    print(
        f"upstream: mock, first token at {args.first_token_ms:g} ms, then {args.tokens_per_second:g} tok/s, "
        f"{args.answer_tokens}-token answers; {args.concurrency} concurrent streams throughout, {args.rounds} rounds "
        f"of {args.concurrency * args.per_worker} requests per side, alternating"
    )
    # The scripted model waits `first_token_ms`, then paces every token, the first included.
    mock_delay = max(0.0, args.first_token_ms - 1000 / args.tokens_per_second)
    with tempfile.TemporaryDirectory(prefix="parley-probe-") as probe_dir:
        parley_env = chat_path_probe.install(Path(probe_dir)) if args.breakdown else None
        with servers(
            first_token_ms=mock_delay,
            tokens_per_second=args.tokens_per_second,
            reply=reply(args.answer_tokens),
            keep_workdir=args.keep_workdir,
            parley_env=parley_env,
        ) as started:
            asyncio.run(run(started, args))
            if args.breakdown:
                time.sleep(1.5)  # the probe writes its samples every second
                print("\nInside Parley, per chat (the probe's timers add a little to each span):")
                print(chat_path_probe.table(Path(probe_dir)))


if __name__ == "__main__":
    main()
