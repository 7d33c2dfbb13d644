"""B6 — the bundled local model on this machine: load time, first-token latency for a ~1,000-token prompt, and
generation speed, each the median of 3 runs, printed as plain figures (no pass/fail: see bench/README.md).

Uses the bundled catalogue's configuration (4 slots of 8,192 tokens, threads = CPU count), so the figures are
what `parley serve` gets with no model configured. Run: `uv run python bench/b6_local_model.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from parley.llm.base import ChatMessage, ChatRequest, Finish, GenerationParams, TextDelta
from parley.llm.config import ModelConfig, bundled_catalog
from parley.llm.local_model import assemble_bundled_model, model_file_path
from parley.llm.providers.local import LocalModel

RUNS = 3
PROMPT_TOKENS = 1_000
GENERATION_TOKENS = 200
PARAGRAPH = (
    "The service keeps one session per request; the dependency commits at the end and rolls back on error. "
    "Repositories hold every SQL statement of a domain and filter rows by what the caller may read. "
    "Streaming answers never write to the database per token: the partial answer is checkpointed every few "
    "seconds and finalised when the model stops. "
)


async def median_of(runs: int, measure: Callable[[int], Awaitable[float]]) -> tuple[float, list[float]]:
    figures = [await measure(run) for run in range(runs)]
    return statistics.median(figures), figures


async def load_seconds(config: ModelConfig, data_dir: Path) -> float:
    """From `start()` to ready: the child process, model load, KV cache allocation, warm-up."""
    model = LocalModel(config, data_dir=data_dir)
    started = time.perf_counter()
    await model.start()
    elapsed = time.perf_counter() - started
    await model.aclose()
    return elapsed


async def long_prompt(model: LocalModel, run: int) -> tuple[list[ChatMessage], int]:
    # A different opening per run, so llama.cpp's prompt cache cannot reuse an earlier run's prefix.
    text = f"Review note #{run}: "
    while True:
        messages = [
            ChatMessage("system", "You are a careful code reviewer."),
            ChatMessage("user", text + "\nSummarise the notes above in one sentence."),
        ]
        tokens = await model.count_tokens(messages)
        if tokens >= PROMPT_TOKENS:
            return messages, tokens
        text += PARAGRAPH


async def first_token_seconds(model: LocalModel, messages: list[ChatMessage]) -> float:
    request = ChatRequest(messages, GenerationParams(temperature=0.0, max_tokens=16))
    started = time.perf_counter()
    stream = model.stream(request)
    try:
        async for event in stream:
            if isinstance(event, TextDelta):
                return time.perf_counter() - started
    finally:
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    raise RuntimeError("the model answered with no text")


async def decode_tokens_per_second(model: LocalModel) -> float:
    """Tokens after the first, over the time after the first: decode speed without prompt processing."""
    request = ChatRequest(
        [ChatMessage("user", "Write a long Python module with ten small, documented utility functions.")],
        GenerationParams(temperature=0.0, max_tokens=GENERATION_TOKENS),
    )
    first_at: float | None = None
    finish: Finish | None = None
    async for event in model.stream(request):
        if isinstance(event, TextDelta):
            first_at = first_at or time.perf_counter()
        else:
            finish = event
    ended_at = time.perf_counter()
    if first_at is None or finish is None or finish.usage is None:
        raise RuntimeError("the model's answer had no text or no usage")
    return (finish.usage.completion_tokens - 1) / (ended_at - first_at)


async def concurrent_tokens_per_second(model: LocalModel, streams: int) -> float:
    """All slots busy at once: total tokens generated per second of wall time."""

    async def one(index: int) -> int:
        request = ChatRequest(
            [ChatMessage("user", f"Write a long story about robot number {index}.")],
            GenerationParams(temperature=0.0, max_tokens=GENERATION_TOKENS // 2),
        )
        tokens = 0
        async for event in model.stream(request):
            if isinstance(event, Finish) and event.usage is not None:
                tokens = event.usage.completion_tokens
        return tokens

    started = time.perf_counter()
    totals = await asyncio.gather(*(one(i) for i in range(streams)))
    return sum(totals) / (time.perf_counter() - started)


def runs_text(figures: list[float], unit: str) -> str:
    return ", ".join(f"{f:.2f}{unit}" for f in figures)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "parley-bench",
        help="where the model file is assembled (kept between runs)",
    )
    args = parser.parse_args()
    config = bundled_catalog().models[0]
    data_dir: Path = args.data_dir

    already = model_file_path(data_dir).exists()
    started = time.perf_counter()
    path = await assemble_bundled_model(data_dir)
    assembly = time.perf_counter() - started
    print("B6 local model")
    print(f"  machine: {os.cpu_count()} CPUs; threads {config.threads or os.cpu_count()}")
    print(f"  model: {path.name} ({path.stat().st_size / 1e6:.0f} MB)")
    print(f"  slots: {config.parallel} x {config.context_window} tokens")
    print(f"  model file: {'verified by marker' if already else 'joined and hashed'} in {assembly:.2f} s")
    # llama.cpp's threads collapse when other work shares the cores: the load average says how quiet it was.
    print(f"  load average before: {os.getloadavg()[0]:.2f}")

    load, loads = await median_of(RUNS, lambda run: load_seconds(config, data_dir))
    print(f"  load: {load:.2f} s median ({runs_text(loads, ' s')})")

    model = LocalModel(config, data_dir=data_dir)
    await model.start()
    try:
        prompt_sizes: list[int] = []

        async def ttft(run: int) -> float:
            messages, tokens = await long_prompt(model, run)
            prompt_sizes.append(tokens)
            return await first_token_seconds(model, messages)

        first, firsts = await median_of(RUNS, ttft)
        size = statistics.median(prompt_sizes)
        print(
            f"  first token, {size:.0f}-token prompt: {first:.2f} s median ({runs_text(firsts, ' s')}); "
            f"prompt processing ~{size / first:.0f} tok/s"
        )

        speed, speeds = await median_of(RUNS, lambda run: decode_tokens_per_second(model))
        print(f"  generation, one stream: {speed:.1f} tok/s median ({runs_text(speeds, '')})")

        together, togethers = await median_of(RUNS, lambda run: concurrent_tokens_per_second(model, config.parallel))
        print(
            f"  generation, {config.parallel} streams at once: {together:.1f} tok/s in total median "
            f"({runs_text(togethers, '')})"
        )
    finally:
        await model.aclose()
    print(f"  load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
