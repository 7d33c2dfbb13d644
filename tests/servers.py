"""Starting real `parley serve` processes in tests: a free port, waiting until the server says it is ready, and
stopping it as an operator would."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(
    url: str, process: subprocess.Popen[Any] | None = None, *, log: Path | None = None, timeout: float = 120
) -> None:
    """Until `url/readyz` answers 200; fails with the server's last output if it exits or takes `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"parley serve exited with {process.returncode}:\n{_last_output(process, log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"parley serve was not ready in {timeout:.0f} s:\n{_last_output(process, log)}")


def interrupt(process: subprocess.Popen[Any], *, timeout: float = 30) -> None:
    """Stop the server with SIGINT (Ctrl-C); kill it if it has not exited within `timeout` seconds."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _last_output(process: subprocess.Popen[Any] | None, log: Path | None) -> str:
    if log is not None and log.exists():
        return log.read_text(errors="replace")[-4000:]
    if process is not None and process.poll() is not None and process.stderr is not None:
        return str(process.communicate()[1])[-4000:]
    return ""
