"""B8 — the time the plan limits add to a chat's time to first token, limits on against off, at 100 streams.

Starts the mock upstream and a `parley serve` as B1 does (`sse_load.servers`), then, through the admin API, two
plans and two users with an API key each:

- **on**: a plan with every limit a chat checks set but never reached (`requests_per_minute` and
  `api_key_requests_per_minute` 1,000,000, `concurrent_answers` 1,000, 10^12 tokens a day and a month, a
  10^9 USD budget): each chat counts two per-minute rates (`policy.rates`, in memory or on Redis, side by side),
  then holds its estimate in the live quota ledger (`quotas.ledger`: in memory, or one Lua script on Redis) and
  settles it after the answer (the spend itself goes to PostgreSQL with the usage row, on both sides);
- **off**: a plan whose limits are all null, which skips both.

Both sides run B1's load in the same run: `--concurrency` workers send requests back to back (starts staggered
over one answer's length, so that many streams throughout), each into conversations that already hold history,
alternating sides every `--per-worker` requests; p50/p99 TTFT per side and the difference (on - off). By default
each side is one user (its streams all one user's, as a service account's would be); `--users N` spreads each
side's streams over N users, which tells the per-user lock's queueing apart from the cost of each check. Then, less
sensitive to a shared machine: Parley's and PostgreSQL's CPU per one-token chat per side (blocks in the order on,
off, off, on…), and PostgreSQL's own timing of every statement of a few chats per side (`log_min_duration_statement
= 0`), which names the statements the limits add and what each costs the database. `--breakdown` also times the
limit calls inside Parley (a `sitecustomize` probe, not part of Parley); `--py-spy PATH` records phases 1 and 2.

`--redis` starts a throwaway `redis-server` and gives Parley `REDIS_URL` (one process; the rates are then counted
on Redis); `BENCH_PARLEY_WORKERS=N` (see bench/README.md) runs N processes on Redis instead.
Run: `.venv/bin/python bench/b8_limits_overhead.py [--redis]` (~3 minutes). Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import json
import os
import re
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
from b1_ttft_overhead import QUESTION, ms, reply
from cpu_cost import Profiler, _admin_connection, parley_seconds, postgres_seconds
from sse_load import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    HOST,
    PARLEY_END,
    PARLEY_ERROR,
    PARLEY_TOKEN,
    Servers,
    StreamResult,
    cpu_meter,
    free_port,
    install_uvloop,
    load_average,
    open_conversations,
    parley_request,
    percentile,
    servers,
    stream_once,
)

SIDES = ("on", "off")
# Every limit a chat checks, set far beyond what the run can reach: the checks all run, none refuses.
LIMITS_ON = {
    "requests_per_minute": 1_000_000,
    "api_key_requests_per_minute": 1_000_000,
    "concurrent_answers": 1000,
    "tokens_per_day": 10**12,
    "tokens_per_month": 10**12,
    "usd_budget_per_month": 10**9,
}
USER_PASSWORD = "a benchmark passphrase for b8"  # noqa: S105 (throwaway accounts on a throwaway database)
PROBE_DIR_VARIABLE = "PARLEY_B8_PROBE_DIR"

# The limit calls on a chat's path, timed inside Parley (wall clock, so time other tasks ran while one of them
# waited counts: that is what it adds to the request). Labelled by side from what they return.
PROBE = """
import collections, json, os, threading, time

_path = os.path.join(os.environ["PARLEY_B8_PROBE_DIR"], f"samples-{os.getpid()}.json")
_samples = collections.defaultdict(list)


def _wrap(module, name, label, side):
    function = getattr(module, name)

    async def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = await function(*args, **kwargs)
        _samples[f"{label} [{side(result)}]"].append(time.perf_counter() - started)
        return result

    setattr(module, name, wrapper)


def _install():
    import parley.plans.service as plans
    import parley.quotas.ledger as ledger
    import parley.quotas.redis_ledger as redis_ledger
    import parley.quotas.service as quotas

    on = lambda result: "on"
    _wrap(plans, "plan_for_user", "plan_for_user (plan + groups)", lambda r: "on" if r.name.endswith("-on") else "off")
    _wrap(plans, "admit_request", "admit_request (2 rates)", lambda r: "on" if r else "off")
    _wrap(quotas, "admit", "quotas.admit", lambda r: "on" if r.id else "off")
    _wrap(ledger.MemoryLedger, "admit", "  ledger admit (memory)", on)
    _wrap(redis_ledger.RedisLedger, "admit", "  ledger admit (Redis)", on)
    _wrap(quotas, "settle", "quotas.settle (in the usage transaction)", on)
    _wrap(ledger.MemoryLedger, "apply", "ledger apply (after its commit, memory)", on)
    _wrap(redis_ledger.RedisLedger, "apply", "ledger apply (after its commit, Redis)", on)


def _write_forever():
    while True:
        time.sleep(1.0)
        with open(_path, "w") as file:
            json.dump(_samples, file)


_install()
threading.Thread(target=_write_forever, daemon=True).start()
"""


# --- setup ------------------------------------------------------------------------------------------------


def _bearer(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# One stream slot: the API key it calls with and the conversation (of that key's user) it writes into.
Slot = tuple[str, str]


def limited_users(s: Servers, users: int) -> dict[str, list[str]]:
    """Per side, the API keys of `users` new users on that side's plan (made through the admin API)."""
    keys: dict[str, list[str]] = {side: [] for side in SIDES}
    with httpx.Client(base_url=f"http://{HOST}:{s.parley_port}", timeout=30) as http:
        admin = _bearer(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        for side, number in itertools.product(SIDES, range(users)):
            plan = f"bench-limits-{side}"
            limits = LIMITS_ON if side == "on" else {}
            if number == 0:
                http.put(f"/api/v1/admin/plans/{plan}", json=limits, headers=admin).raise_for_status()
            email = f"bench-limits-{side}-{number}@parley.bench"
            user = http.post("/api/v1/auth/register", json={"email": email, "password": USER_PASSWORD})
            user.raise_for_status()
            moved = http.patch(
                f"/api/v1/admin/users/{user.json()['id']}", json={"subscription_tier": plan}, headers=admin
            )
            moved.raise_for_status()
            key = http.post(
                "/api/v1/users/me/api-keys",
                json={"name": "b8", "scopes": ["chat", "conversations:read", "conversations:write"]},
                headers=_bearer(http, email, USER_PASSWORD),
            )
            key.raise_for_status()
            keys[side].append(str(key.json()["key"]))
    return keys


async def open_slots(s: Servers, keys: list[str], count: int) -> list[Slot]:
    """`count` slots, slot i on user i % len(keys), each with a conversation that already holds an exchange."""
    per_user = -(-count // len(keys))
    opened = await asyncio.gather(*(open_conversations(dataclasses.replace(s, api_key=k), per_user) for k in keys))
    return [(keys[i % len(keys)], opened[i % len(keys)][i // len(keys)]) for i in range(count)]


def chat_request(s: Servers, slot: Slot, **extra: int) -> bytes:
    api_key, conversation = slot
    return parley_request(s.parley_port, api_key, conversation, QUESTION, **extra)


async def check_sides(s: Servers, slots: dict[str, list[Slot]]) -> None:
    """Refuse to measure unless the on side's chats carry the plan's RateLimit headers and the off side's none."""
    for side in SIDES:
        request = chat_request(s, slots[side][0], max_tokens=1)
        result = await stream_once(s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, keep=2048)
        limited = b"ratelimit-policy" in result.head.lower()
        if not result.ok or limited != (side == "on"):
            raise SystemExit(f"the {side} side is not as set up (ok={result.ok}, RateLimit headers: {limited})")


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as redis:  # noqa: S603
        try:
            yield f"redis://{HOST}:{port}/0"
        finally:
            redis.terminate()


# --- phase 1: time to first token, both sides in the same run -------------------------------------------


async def ttft(
    s: Servers, slots: dict[str, list[Slot]], args: argparse.Namespace
) -> dict[tuple[int, str], list[StreamResult]]:
    stream_seconds = args.first_token_ms / 1000 + args.answer_tokens / args.tokens_per_second
    results: dict[tuple[int, str], list[StreamResult]] = {}

    async def worker(index: int) -> None:
        await asyncio.sleep(stream_seconds * index / args.concurrency)
        for number in range(-1, args.rounds):  # round -1: the untimed warm-up
            for side in SIDES if number % 2 == 0 else SIDES[::-1]:
                for _ in range(1 if number < 0 else args.per_worker):
                    request = chat_request(s, slots[side][index])
                    result = await stream_once(
                        s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR
                    )
                    results.setdefault((number, side), []).append(result)

    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    return results


def print_ttft(results: dict[tuple[int, str], list[StreamResult]], rounds: int) -> None:
    print(f"{'limits':8} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    figures: dict[str, tuple[float, float]] = {}
    for side in SIDES:
        batch = [r for (number, kind), rs in results.items() if number >= 0 and kind == side for r in rs]
        ttfts = [r.ttft for r in batch if r.ok and r.ttft is not None]
        errors = [r.error for r in batch if not r.ok]
        p50, p90, p99 = (percentile(ttfts, q) for q in (0.5, 0.9, 0.99))
        figures[side] = (p50, p99)
        print(f"{side:8} {len(batch):8d} {len(errors):6d} {ms(p50)} {ms(p90)} {ms(p99)} {ms(max(ttfts, default=0))}")
        if errors:
            print(f"         errors: {sorted({e or '?' for e in errors})}")
    added_p50 = (figures["on"][0] - figures["off"][0]) * 1000
    added_p99 = (figures["on"][1] - figures["off"][1]) * 1000
    print(f"\nB8 time to first token the limits add (on - off): p50 {added_p50:+.1f} ms, p99 {added_p99:+.1f} ms")
    print("   (target, issue 11: <= 1 ms p50 added in-process, <= 2 ms with Redis)")
    spread = []
    for number in range(rounds):
        on = [r.ttft for r in results.get((number, "on"), []) if r.ok and r.ttft is not None]
        off = [r.ttft for r in results.get((number, "off"), []) if r.ok and r.ttft is not None]
        spread.append((percentile(on, 0.5) - percentile(off, 0.5)) * 1000)
    print(f"   added p50 round by round (the noise): {', '.join(f'{x:+.1f}' for x in spread)} ms")


# --- phase 2: CPU per chat per side ----------------------------------------------------------------------


async def cpu_per_chat(
    s: Servers, slots: dict[str, list[Slot]], args: argparse.Namespace, profiler: Profiler
) -> dict[str, tuple[float, float, float]]:
    """Per side: Parley's and PostgreSQL's CPU ms per one-token chat, and the client-side TTFT p50 (ms)."""
    spent: dict[str, list[float]] = {side: [0.0, 0.0, 0.0] for side in SIDES}
    ttfts: dict[str, list[float]] = {side: [] for side in SIDES}
    per_block = args.chats // args.blocks
    for block in range(args.blocks):
        for side in SIDES if block % 2 == 0 else SIDES[::-1]:
            pending = iter(range(per_block))

            async def worker(slot: Slot, side: str = side, pending: Iterator[int] = pending) -> None:
                for _ in pending:
                    request = chat_request(s, slot, max_tokens=1)
                    result = await stream_once(
                        s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR
                    )
                    if not result.ok or result.ttft is None:
                        raise SystemExit(f"a chat failed: {result.error}")
                    ttfts[side].append(result.ttft)

            await asyncio.sleep(1.5)  # the previous block's settlements and finalisations
            before, pg_before = parley_seconds(s), postgres_seconds(s)
            profiler.start(f"b8-chat-{side}-{block}")
            await asyncio.gather(*(worker(slot) for slot in slots[side][: args.chat_concurrency]))
            await asyncio.sleep(0.5)  # this block's settlements (after the last event)
            profiler.stop()
            spent[side][0] += parley_seconds(s) - before
            spent[side][1] += postgres_seconds(s) - pg_before
            spent[side][2] += per_block
    return {
        side: (1000 * parley / n, 1000 * pg / n, 1000 * percentile(ttfts[side], 0.5))
        for side, (parley, pg, n) in spent.items()
    }


# --- phase 3: PostgreSQL's timing of each statement ------------------------------------------------------

_DURATION = re.compile(r"duration: ([0-9.]+) ms  (parse|bind|execute|statement)[^:]*: (.*)")


def _statement_kind(text: str) -> str:
    text = " ".join(text.split())
    for marker, name in (
        ("FROM quota_counters", "ledger load of an account (quotas)"),
        ("INSERT INTO quota_counters", "record spend (both sides)"),
        ("INSERT INTO quota_alerts", "alert mark (settle)"),
    ):
        if marker in text:
            return name
    return text[:70]


async def statement_times(s: Servers, slots: dict[str, list[Slot]], chats: int) -> dict[str, dict[str, list[float]]]:
    """Per side, per kind of statement: [count, execute ms, parse + bind ms], summed over `chats` serial chats."""
    log = s.workdir / "data" / "postgres" / "log"
    admin = await _admin_connection(s)
    found: dict[str, dict[str, list[float]]] = {}
    try:
        await admin.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
        await admin.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        for side in SIDES:
            offset = log.stat().st_size
            for index in range(chats):
                request = chat_request(s, slots[side][index % len(slots[side])], max_tokens=1)
                await stream_once(s.parley_port, request, token=PARLEY_TOKEN, end=PARLEY_END, error=PARLEY_ERROR)
            await asyncio.sleep(1.0)  # the settlements and finalisations after the last event
            kinds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            with log.open(errors="replace") as handle:
                handle.seek(offset)
                for line in handle:
                    match = _DURATION.search(line)
                    if match is None or "log_min_duration" in line or "pg_reload_conf" in line:
                        continue
                    took, phase, text = float(match.group(1)), match.group(2), match.group(3)
                    kind = kinds[_statement_kind(text)]
                    if phase in ("execute", "statement"):
                        kind[0] += 1
                        kind[1] += took
                    else:
                        kind[2] += took
            found[side] = dict(kinds)
    finally:
        await admin.execute("ALTER SYSTEM RESET log_min_duration_statement")
        await admin.execute("SELECT pg_reload_conf()")
        await admin.close()
    return found


def print_statements(found: dict[str, dict[str, list[float]]], chats: int) -> None:
    totals = {side: sum(v[1] + v[2] for v in kinds.values()) / chats for side, kinds in found.items()}
    counts = {side: sum(v[0] for v in kinds.values()) / chats for side, kinds in found.items()}
    print(
        f"statements per chat (PostgreSQL's own timing, {chats} serial one-token chats per side): "
        + ", ".join(f"{side} {counts[side]:.1f} taking {totals[side]:.2f} ms" for side in SIDES)
    )
    print(f"   {'statement':72} {'on /chat':>8} {'on ms':>7} {'off /chat':>9} {'off ms':>7}")
    names = sorted(set(found["on"]) | set(found["off"]), key=lambda n: -found["on"].get(n, [0, 0, 0])[1])
    for name in names:
        on, off = found["on"].get(name, [0.0, 0.0, 0.0]), found["off"].get(name, [0.0, 0.0, 0.0])
        print(
            f"   {name:72} {on[0] / chats:8.1f} {(on[1] + on[2]) / chats:7.3f} {off[0] / chats:9.1f} "
            f"{(off[1] + off[2]) / chats:7.3f}"
        )


def print_probe(directory: Path) -> None:
    samples: dict[str, list[float]] = defaultdict(list)
    for path in directory.glob("samples-*.json"):
        for name, values in json.loads(path.read_text()).items():
            samples[name].extend(values)
    print("\nInside Parley, per call (wall clock, whole run; --breakdown):")
    print(f"   {'call':48} {'n':>6} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8}")
    for name in sorted(samples):
        values = sorted(samples[name])
        p50, p90, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.9, 0.99))
        print(f"   {name:48} {len(values):6d} {p50:10.3f} {p90:8.3f} {p99:8.3f}")


# --- the run ---------------------------------------------------------------------------------------------


async def run(s: Servers, args: argparse.Namespace) -> None:
    started = time.monotonic()
    keys = limited_users(s, args.users)
    slots = {side: await open_slots(s, keys[side], args.concurrency) for side in SIDES}
    await check_sides(s, slots)
    print(
        f"setup: 2 plans, {args.users} user(s) with an API key per side, {args.concurrency} conversations per side "
        f"({time.monotonic() - started:.1f} s)"
    )

    profiler = Profiler(args.py_spy, Path(args.profile_dir), s.parley.pid)
    meter = cpu_meter(s)
    phase = time.monotonic()
    meter.start()
    profiler.start("b8-ttft")
    results = await ttft(s, slots, args)
    profiler.stop()
    cpu = meter.read()
    print(
        f"\nphase 1: {args.concurrency} streams, {args.rounds} rounds of {args.concurrency * args.per_worker} per side"
    )
    print_ttft(results, args.rounds)
    print(
        f"   CPU over the phase ({time.monotonic() - phase:.0f} s, % of one core): "
        + ", ".join(f"{name} {value:.0f}%" for name, value in cpu.items())
    )
    print(f"   load average: {load_average()}")

    per_chat = await cpu_per_chat(s, slots, args, profiler)
    print(
        f"\nphase 2: CPU per one-token chat ({args.chats} per side, {args.chat_concurrency} at a time, "
        f"{args.blocks} alternating blocks):"
    )
    for side in SIDES:
        parley, pg, p50 = per_chat[side]
        print(f"   {side:4} Parley {parley:6.2f} ms, PostgreSQL {pg:6.2f} ms (client-side TTFT p50 {p50:.1f} ms)")
    print(
        f"   the limits add: Parley {per_chat['on'][0] - per_chat['off'][0]:+.2f} ms, "
        f"PostgreSQL {per_chat['on'][1] - per_chat['off'][1]:+.2f} ms of CPU per chat"
    )

    print()
    print_statements(await statement_times(s, slots, args.statement_chats), args.statement_chats)
    print(f"\nwhole run {time.monotonic() - started:.0f} s; load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", action="store_true", help="start a throwaway redis-server: Parley on REDIS_URL")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--users", type=int, default=1, help="users (each with an API key) per side, the streams spread over them"
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds of on and off phases")
    parser.add_argument("--per-worker", type=int, default=1, help="requests per stream slot per phase")
    parser.add_argument("--first-token-ms", type=float, default=50, help="the mock's time to first token")
    parser.add_argument("--tokens-per-second", type=float, default=20)
    parser.add_argument("--answer-tokens", type=int, default=100, help="tokens per answer (100: 5 s at 20 tok/s)")
    parser.add_argument("--chats", type=int, default=400, help="one-token chats per side for the CPU per chat")
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks per side for the CPU per chat")
    parser.add_argument("--chat-concurrency", type=int, default=20)
    parser.add_argument("--statement-chats", type=int, default=20, help="serial chats per side, statements timed")
    parser.add_argument("--breakdown", action="store_true", help="time the limit calls inside Parley (a probe)")
    parser.add_argument("--py-spy", help="path of a py-spy executable: profile phases 1 and 2 (raw collapsed stacks)")
    parser.add_argument("--profile-dir", default="profiles", help="where the py-spy profile goes")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the data dir and the servers' logs")
    args = parser.parse_args()
    loop = install_uvloop()
    workers = int(os.environ.get("BENCH_PARLEY_WORKERS", "1"))
    store = f"Redis ({workers} processes)" if workers > 1 else "Redis (one process)" if args.redis else "in process"
    print(f"B8 time to first token the plan limits add — {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}; load generator: this process ({loop})")
    print(
        f"rates counted {store}; upstream: mock, first token at {args.first_token_ms:g} ms, "
        f"{args.answer_tokens}-token answers at {args.tokens_per_second:g} tok/s"
    )
    mock_delay = max(0.0, args.first_token_ms - 1000 / args.tokens_per_second)
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if args.redis and workers == 1:
            env["REDIS_URL"] = stack.enter_context(throwaway_redis())
        probe_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-b8-probe-")))
        if args.breakdown:
            (probe_dir / "sitecustomize.py").write_text(PROBE)
            env.update(PYTHONPATH=str(probe_dir), **{PROBE_DIR_VARIABLE: str(probe_dir)})
        started = stack.enter_context(
            servers(
                first_token_ms=mock_delay,
                tokens_per_second=args.tokens_per_second,
                reply=reply(args.answer_tokens),
                keep_workdir=args.keep_workdir,
                parley_env=env,
            )
        )
        asyncio.run(run(started, args))
        if args.breakdown:
            time.sleep(1.5)  # the probe writes its samples every second
            print_probe(probe_dir)


if __name__ == "__main__":
    main()
