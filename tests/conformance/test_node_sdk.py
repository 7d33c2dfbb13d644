"""The official Node `openai` SDK and the Vercel AI SDK (tests/conformance/node, installed by `make install`)
against `parley serve` (one server for the suite)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from typing import Any

import pytest

from tests.conformance.conftest import NODE_DIR
from tests.images.samples import described, png


async def _run(script: str, package: str, parley_url: str, api_key: str, **env: str) -> dict[str, Any]:
    """What `script` (of tests/conformance/node) printed, run by node against `parley_url` (`env` added)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / package).is_dir():
        pytest.fail("node and tests/conformance/node/node_modules are needed: run `make install`")
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / script),
        env={**os.environ, "PARLEY_URL": parley_url, "PARLEY_KEY": api_key, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout)
    return result


async def test_node_sdk_tools_streaming_and_structured_output(parley_url, api_key):
    result = await _run("conformance.mjs", "openai", parley_url, api_key)
    assert result["first"] == {"finish": "tool_calls", "name": "get_weather", "arguments": '{"city": "city 1"}'}
    assert result["second"] == {"finish": "stop", "content": "18 and sunny"}
    streamed = result["streamed"]
    assert streamed["finish"] == "tool_calls" and streamed["name"] == "get_weather"
    assert json.loads(streamed["arguments"]) == {"city": "city 1"} and streamed["deltas"] > 2
    assert result["structured"] == {"city": "city 1", "degrees": 1}
    assert result["refused"]["status"] == 400 and result["refused"]["param"] == "tools"
    assert result["model"] == {
        "id": "echo",
        "capabilities": {"tools": True, "json_schema": True, "vision": False, "logprobs": False},
        "context_window": 8192,
    }


async def test_vercel_ai_sdk_text_streams_tool_steps_and_objects(parley_url, api_key):
    result = await _run("ai_sdk.mjs", "ai", parley_url, api_key)
    generated = result["generated"]
    assert (generated["text"], generated["finish"]) == ("hello from the ai sdk", "stop")
    assert generated["usage"]["outputTokens"] == 5 and generated["usage"]["inputTokens"] > 0
    # Streamed token by token (the scripted model's tokens are words).
    assert result["streamed"] == {"pieces": 5, "text": "one two three four five", "finish": "stop"}
    # The SDK ran the tool with the model's arguments, sent its result back, and the model answered with it.
    assert result["tools"] == {
        "calls": ["city 1"],
        "steps": ["tool-calls", "stop"],
        "text": "18 and sunny in city 1",
    }
    # A JSON schema instance (the scripted model answers with its minimum), validated by zod.
    assert result["object"] == {"city": "city 1", "degrees": -40}


async def test_node_sdk_and_vercel_ai_sdk_send_images(parley_url, api_key):
    # `eyes` answers with what it was shown (README, "Images"): the bytes sent, their real type and size.
    picture = png(6, 2, (250, 200, 0))
    result = await _run("images.mjs", "ai", parley_url, api_key, PARLEY_IMAGE=base64.b64encode(picture).decode())
    seen = described(picture, "image/png", 6, 2)
    assert result == {"openai": f"{seen} what is this?", "aiSdk": f"{seen} and this?"}
