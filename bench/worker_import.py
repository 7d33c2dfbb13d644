"""What a `parley serve --workers N` process imports before it can answer its supervisor's health ping, and what
it imports before it serves: wall time of `import parley.cli` (multiprocessing's spawn re-runs the `parley`
script, which imports it, before the worker's ping thread starts) and of `import parley.app` (the app factory,
after the ping thread started), each in a fresh interpreter, median of N runs.

    .venv/bin/python bench/worker_import.py [--runs 7] [--source DIR ...]

`--source DIR` measures another checkout's `src/` (e.g. one made with `git archive <commit> src | tar -x -C DIR`)
alternately with this one, so a busy machine weighs on both alike. Prints the load average of each series.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("parley.cli", "parley.app")


def _import_seconds(module: str, source: Path) -> float:
    """Cumulative import time of `module` as `python -X importtime` reports it."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed module name
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(result.stderr.splitlines()):
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise RuntimeError(f"no import time for {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--source", action="append", default=[], help="another checkout's directory (holds src/)")
    args = parser.parse_args()
    sources = {"this checkout": ROOT / "src", **{name: Path(name) / "src" for name in args.source}}
    times: dict[tuple[str, str], list[float]] = {(label, m): [] for label in sources for m in MODULES}
    for _ in range(args.runs):
        for label, source in sources.items():
            for module in MODULES:
                times[(label, module)].append(_import_seconds(module, source))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, {args.runs} runs each")
    for (label, module), seconds in times.items():
        print(
            f"{label:>30}  import {module:<11} median {statistics.median(seconds):5.2f} s  "
            f"min {min(seconds):5.2f} s  max {max(seconds):5.2f} s"
        )


if __name__ == "__main__":
    main()
