"""B7 — the first answer after a start: `parley serve` with no configuration (the bundled model), as `make run`
starts it. Prints when the server accepted connections, when `/readyz` said ready (the model loaded), and the
time to the first token of the first question asked once ready (or, with `--ask-when-accepting`, at once),
then of a second one. Plain figures, no pass/fail (see bench/README.md).

The data dir is kept between runs (`--data-dir`), so the embedded database and the assembled model file are made
once; what is timed is a restart. Run: `uv run python bench/b7_first_answer.py`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

EMAIL = "bench@parley.local"
PASSWORD = "a benchmark passphrase"  # noqa: S105 (the throwaway admin of a benchmark data dir)
QUESTIONS = ("What is the capital of France?", "Name a primary colour.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def first_token_seconds(base: str, headers: dict[str, str], question: str) -> float:
    """From sending the question to the first `delta` event of the answer."""
    started = time.perf_counter()
    body = {"message": question, "max_tokens": 16}
    with httpx.stream("POST", f"{base}/api/v1/chat", json=body, headers=headers, timeout=120) as response:
        for line in response.iter_lines():
            if line == "event: delta":
                return time.perf_counter() - started
    raise RuntimeError("the answer had no text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "parley-bench-b7")
    parser.add_argument(
        "--ask-when-accepting",
        action="store_true",
        help="ask the first question as soon as the server accepts connections, without waiting for /readyz "
        "(what a client gets that ignores readiness: the question waits for the model's load)",
    )
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(PARLEY_ADMIN_EMAIL=EMAIL, PARLEY_ADMIN_PASSWORD=PASSWORD, PARLEY_LOG_LEVEL="warning")
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(args.data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    accepting: float | None = None
    ready: float | None = None
    try:
        while ready is None and time.perf_counter() - started < 300:
            try:
                status = httpx.get(f"{base}/readyz", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            accepting = accepting or time.perf_counter() - started
            if status == 200 or args.ask_when_accepting:
                ready = time.perf_counter() - started
            else:
                time.sleep(0.05)
        if ready is None:
            raise SystemExit("parley serve did not become ready within 300 s")
        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        firsts = [first_token_seconds(base, headers, question) for question in QUESTIONS]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print("B7 first answer after a start (bundled model)")
    print(f"  machine: {os.cpu_count()} CPUs; load average before the stop: {os.getloadavg()[0]:.2f}")
    print(f"  accepting connections: {accepting:.2f} s after the process started")
    if args.ask_when_accepting:
        print(f"  first token, first question asked at once (model still loading): {firsts[0]:.2f} s")
    else:
        print(f"  /readyz 200 (model loaded): {ready:.2f} s")
        print(f"  first token, first question once ready: {firsts[0]:.2f} s")
    print(f"  first token, second question: {firsts[1]:.2f} s")


if __name__ == "__main__":
    main()
