"""What tracing costs the streaming path: CPU per answer and per token of `Router.stream` over the scripted model,
with tracing off (no endpoint: nothing installed), and on (a tracer provider recording every span, inside a
request's span as in a chat). In-process and CPU time only, so a busy machine moves the figures little.

The model calls of one answer make one `llm.call` span each and a `first_token` event; the tokens themselves
should cost the same with tracing on as off.

Run: `.venv/bin/python bench/tracing_overhead.py [--answers 400] [--tokens 200] [--rounds 3]`. Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from parley import tracing
from parley.config import LLMSettings, TracingSettings
from parley.llm.base import ChatMessage, ChatRequest, GenerationParams
from parley.llm.config import ModelCatalog
from parley.llm.registry import ModelRegistry
from parley.llm.router import Router
from parley.tracing.setup import Tracing


class _Discard(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _answers(router: Router, registry: ModelRegistry, answers: int, request: ChatRequest) -> tuple[float, int]:
    model = registry.get("bench")
    assert model is not None
    tokens = 0
    started = time.process_time()
    for _ in range(answers):
        with tracing.span("POST /api/v1/chat"):
            async with contextlib.aclosing(router.stream(model, request)) as events:
                async for _event in events:
                    tokens += 1
    return time.process_time() - started, tokens


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reply = " ".join(f"w{i}" for i in range(args.tokens))
    catalog = ModelCatalog.model_validate(
        {"default": "bench", "models": [{"name": "bench", "provider": "scripted", "reply": reply}]}
    )
    request = ChatRequest([ChatMessage("user", "hello")], GenerationParams())
    with tempfile.TemporaryDirectory() as data_dir:
        registry = ModelRegistry(catalog, data_dir=Path(data_dir))
        await registry.start()
        router = Router(registry, LLMSettings())
        await _answers(router, registry, 20, request)  # warm-up
        results: dict[str, list[tuple[float, int]]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for side in ("off", "on"):
                on = None
                if side == "on":
                    on = Tracing.start(TracingSettings(), version="bench", environment="test", exporter=_Discard())
                try:
                    results[side].append(await _answers(router, registry, args.answers, request))
                finally:
                    if on is not None:
                        on.shutdown()
        await registry.aclose()
    print(f"{args.answers} answers of {args.tokens} tokens, best of {args.rounds} rounds (CPU time)")
    best: dict[str, float] = {}
    for side, runs in results.items():
        seconds, tokens = min(runs)
        best[side] = seconds
        print(
            f"  tracing {side:3}: {seconds * 1e6 / args.answers:8.1f} µs per answer, "
            f"{seconds * 1e6 / tokens:6.2f} µs per event"
        )
    print(f"  difference: {(best['on'] - best['off']) * 1e6 / args.answers:+.1f} µs per answer")


if __name__ == "__main__":
    asyncio.run(main())
