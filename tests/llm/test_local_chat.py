"""`make run` as a user meets it: no configuration, the bundled local model answers through the chat API.

Runs the real model (a few seconds): Parley joins the model from its packages, starts llama.cpp, and streams.
"""

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
from tests.sse import answer_text, parse_events

PASSWORD = "a perfectly fine passphrase"


def test_the_bundled_model_answers_a_chat_out_of_the_box(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(PARLEY_ADMIN_EMAIL="ops@acme.test", PARLEY_ADMIN_PASSWORD=PASSWORD, HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        not_ready: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
            except httpx.TransportError:
                time.sleep(0.3)
                continue
            if ready.status_code == 200:
                break
            not_ready.append(ready.json())
            time.sleep(0.1)
        else:
            pytest.fail("parley serve did not become ready")
        # Ready means the model has loaded: the first question below does not pay for the load. While it loaded,
        # the server was up but said why it was not ready yet.
        assert ready.json()["models"] == {"local": "ready"}
        assert all(body["models"] == {"local": "loading"} for body in not_ready), not_ready
        token = httpx.post(f"{base}/api/v1/auth/login", json={"email": "ops@acme.test", "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        models = httpx.get(f"{base}/v1/models", headers=headers).json()
        assert [m["id"] for m in models["data"]] == ["auto", "local"]
        response = httpx.post(
            f"{base}/api/v1/chat",
            json={"message": "Write a Python function that adds two numbers.", "max_tokens": 40},
            headers=headers,
            timeout=120,
        )
        events = parse_events(response.text)
        done = next(e for e in events if e.event == "done").data
        assert done["model"] == "local" and done["finish_reason"] in ("stop", "length")
        assert done["usage"]["prompt_tokens"] > 10 and 0 < done["usage"]["completion_tokens"] <= 40
        assert len(answer_text(events).strip()) > 0
        assert (tmp_path / "data" / "models").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
