"""Encryption at rest: what sealing and opening cost, per chat-sized value and per MB of file.

In-process, no server: AES-256-GCM through `parley.crypto` with a data key already unwrapped (as a request has
it after its one key fetch, cached for `PARLEY_CRYPTO__KEY_CACHE_SECONDS`), against a plain copy of the same
bytes. Figures (p50 over `--runs` repetitions, microseconds):

- **value**: `SealingKey.seal` then `open` of one value (a title, a message, a long answer), and a plain copy;
- **chat**: what one chat turn adds with today's plan for the chat path (next session): the cached key lookup
  (`Crypto.keys_for`), sealing the question and the answer, and opening a 20-message history;
- **chat as stored** (`parley.crypto.content`, what the chat path does since the content is sealed): the
  question's and the answer placeholder's insert (seal + blind-index tokens), the history of 20 messages opened
  from their stored text (base64 decode + open), two checkpoints of the answer (seal), its finish (seal + tokens)
  and a title (seal + tokens); realistic English text, so the word and prefix tokens are what a chat computes;
- **key fetch** (only with `--database-url`): a data key not cached: one query and one unwrap (local key file);
- **file**: `seal_file` / `open_file` and the streamed opener per MB (64 KiB chunks), against a copy.

Run: `.venv/bin/python bench/crypto_overhead.py [--runs 2000] [--database-url postgresql+asyncpg://...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from parley.crypto import content, streams
from parley.crypto.envelope import SealingKey, context_of
from parley.crypto.keyring import Crypto
from parley.crypto.providers.local import LocalKeyFile
from parley.crypto.settings import CryptoSettings

VALUES = {"title (60 B)": 60, "message (2 KB)": 2_000, "answer (16 KB)": 16_000}
MB = 1 << 20


def p50_us(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        work()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


async def p50_us_async(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        await work()  # type: ignore[misc]
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def values(key: SealingKey, runs: int) -> None:
    print(f"{'value':<16} {'seal+open p50':>14} {'copy p50':>10}")
    for name, size in VALUES.items():
        value_row(key, name, size, runs)


def value_row(key: SealingKey, name: str, size: int, runs: int) -> None:
    payload = os.urandom(size)
    place = context_of("messages", "content", uuid.uuid4())
    sealed = key.seal(payload, context=place)
    assert key.open(sealed, context=place) == payload
    cost = p50_us(lambda: key.open(key.seal(payload, context=place), context=place), runs)
    copy = p50_us(lambda: bytes(bytearray(payload)), runs)
    print(f"{name:<16} {cost:>11.1f} µs {copy:>7.1f} µs")


async def chat_turn(key: SealingKey, runs: int) -> None:
    owner = key.owner
    crypto = Crypto(None, None, CryptoSettings())  # type: ignore[arg-type]
    crypto._remember(key)  # as after the request's one key fetch
    question, answer = os.urandom(500), os.urandom(3_000)
    history = [(f"messages.content:{uuid.uuid4()}", os.urandom(1_500)) for _ in range(20)]
    sealed_history = [(place, key.seal(text, context=place)) for place, text in history]

    async def turn() -> None:
        keys = await crypto.keys_for((owner,))
        own = keys[owner]
        for place, value in sealed_history:
            own.open(value, context=place)
        own.seal(question, context="messages.content:q")
        own.seal(answer, context="messages.content:a")

    cost = await p50_us_async(turn, runs)
    print(f"\nchat turn (key lookup, seal question + answer, open 20-message history): p50 {cost:.1f} µs")


_SENTENCE = (
    "the quarterly report shows revenue growth in every region while costs for cloud hosting rose faster than "
    "planned so the team proposes moving batch workloads to reserved capacity and reviewing vendor contracts "
    "before the next budget cycle starts in march with a decision expected from finance"
)
_WORDS = _SENTENCE.split(maxsplit=-1)


def _text(words: int, seed: int) -> str:
    return " ".join(
        _WORDS[(seed * 7 + n * 3) % len(_WORDS)] + (str(n % 13) if n % 5 == 0 else "") for n in range(words)
    )


async def stored_chat_turn(key: SealingKey, runs: int) -> None:
    owner = key.owner
    crypto = Crypto(None, None, CryptoSettings())  # type: ignore[arg-type]
    crypto._remember(key)  # as after the request's one key fetch
    content.install(crypto)
    question, answer, title = _text(80, 1), _text(450, 2), "Cloud hosting costs and reserved capacity"
    history = []
    for n in range(20):
        message_id = uuid.uuid4()
        history.append((content.seal_with(key, _text(250, n), context=content.message_context(message_id)), message_id))
    question_id, answer_id = uuid.uuid4(), uuid.uuid4()

    async def turn() -> None:
        own = await content.key_for(owner)
        assert own is not None
        content.seal_with(own, question, context=content.message_context(question_id))
        content.terms(own, [question])
        content.seal_with(own, "", context=content.message_context(answer_id))
        for stored, message_id in history:
            await content.open_text(stored, context=content.message_context(message_id))
        for share in (3, 2):
            content.seal_with(own, answer[: len(answer) // share], context=content.message_context(answer_id))
        content.seal_with(own, answer, context=content.message_context(answer_id))
        content.terms(own, [answer])
        own.seal(title.encode(), context="conversations.title:c")
        content.terms(own, [title])

    cost = await p50_us_async(turn, runs)
    content.uninstall(crypto)
    print(
        "chat as stored (question 80 words, answer 450, 20-message history, 2 checkpoints, title; seal, open and"
        f" blind-index tokens): p50 {cost:.0f} µs"
    )


async def key_fetch(database_url: str, runs: int) -> None:
    from parley.config import Settings
    from parley.db import create_engine
    from parley.migrations.runner import upgrade_to_head

    engine = create_engine(database_url, Settings(database_url=database_url))
    await upgrade_to_head(engine)
    with tempfile.TemporaryDirectory() as home:
        crypto = Crypto(engine, LocalKeyFile(Path(home) / "keyring.json"), CryptoSettings(key_cache_seconds=0))
        await crypto.start()
        owners = [uuid.uuid4() for _ in range(min(runs, 200))]
        for owner in owners:
            await crypto.key_for(owner)
        index = iter(range(10**9))
        cost = await p50_us_async(lambda: crypto.key_for(owners[next(index) % len(owners)]), min(runs, 500))
        print(f"data key not cached (one query + unwrap, local key file): p50 {cost:.0f} µs")
        await crypto.aclose()
    await engine.dispose()


def files(key: SealingKey, runs: int) -> None:
    print(f"\n{'file':<8} {'seal':>12} {'open':>12} {'stream open':>12} {'copy':>10}")
    for size in (1 * MB, 16 * MB):
        file_row(key, size, max(3, runs // (200 * size // MB)))


def file_row(key: SealingKey, size: int, repeat: int) -> None:
    data = os.urandom(size)
    sealed = streams.seal_file(key, data, context="uploads/x")

    def stream_open() -> None:
        opener = streams.FileOpener(key, streams.Header(sealed), context="uploads/x")
        for start in range(streams.HEADER_BYTES, len(sealed), 65536):
            opener.feed(sealed[start : start + 65536])
        opener.finish()

    megabytes = size / MB
    seal = p50_us(lambda: streams.seal_file(key, data, context="uploads/x"), repeat) / megabytes
    opened = p50_us(lambda: streams.open_file(key, sealed, context="uploads/x"), repeat) / megabytes
    streamed = p50_us(stream_open, repeat) / megabytes
    copy = p50_us(lambda: bytes(bytearray(data)), repeat) / megabytes
    print(f"{size // MB:>3} MB   {seal:>7.0f} µs/MB {opened:>7.0f} µs/MB {streamed:>7.0f} µs/MB {copy:>6.0f} µs/MB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--database-url", help="also time a data key fetch that misses the cache")
    args = parser.parse_args()
    key = SealingKey(uuid.uuid4(), uuid.uuid4(), os.urandom(32))
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, p50 of {args.runs} runs\n")
    values(key, args.runs)
    await chat_turn(key, args.runs)
    await stored_chat_turn(key, args.runs)
    if args.database_url:
        await key_fetch(args.database_url, args.runs)
    files(key, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
