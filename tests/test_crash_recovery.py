"""A Parley killed mid-answer loses nothing it acknowledged: after a restart the question is there and the
answer is kept up to its last checkpoint, marked `interrupted`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port
from tests.sse import parse_events

MODELS = """
models:
  - name: slow
    provider: scripted
    reply: echo
    tokens_per_second: 10
"""


def _start(data_dir: Path, models: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(
        PARLEY_MODELS=str(models),
        PARLEY_ADMIN_EMAIL="ops@acme.test",
        PARLEY_ADMIN_PASSWORD="a perfectly fine passphrase",
        PARLEY_LLM__CHECKPOINT_INTERVAL_SECONDS="0.3",
        PARLEY_LLM__INTERRUPTED_AFTER_SECONDS="1",
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("parley serve did not become ready")


def test_killed_mid_answer_keeps_the_question_and_the_checkpointed_answer(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(MODELS)
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    question = " ".join(f"word{n}" for n in range(100))

    first = _start(data_dir, models, port)
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "ops@acme.test", "password": "a perfectly fine passphrase"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        seen = ""
        with httpx.stream(
            "POST", f"{base}/api/v1/chat", json={"message": question}, headers=headers, timeout=10
        ) as response:
            for chunk in response.iter_text():
                seen += chunk
                if seen.count("event: delta") >= 12:  # well past a few checkpoints
                    break
        conversation_id = parse_events(seen.rsplit("\n\n", 1)[0] + "\n\n")[0].data["conversation_id"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    second = _start(data_dir, models, port)
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "ops@acme.test", "password": "a perfectly fine passphrase"}
        ).json()["access_token"]
        detail = httpx.get(
            f"{base}/api/v1/conversations/{conversation_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    user, answer = detail["messages"]
    assert user["role"] == "user" and user["content"] == question
    assert answer["finish_reason"] == "interrupted"
    assert answer["content"] and question.startswith(answer["content"])
    # The restarted Parley stopped the embedded database it reused from the killed one.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
