"""The official Node `openai` SDK (tests/conformance/node, installed by `make install`) against `parley serve`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from tests.conformance.conftest import NODE_DIR


async def test_node_sdk_tools_streaming_and_structured_output(parley_url, api_key):
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("node and tests/conformance/node/node_modules are needed: run `make install`")
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "conformance.mjs"),
        env={**os.environ, "PARLEY_URL": parley_url, "PARLEY_KEY": api_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
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
