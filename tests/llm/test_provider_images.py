"""Images reach each provider in its own wire format (README, "Images"), checked on the fake upstream as the
providers' other wire-format tests do: OpenAI-compatible `image_url` parts with base64 data URLs, Anthropic
`image` blocks with a base64 source, Bedrock Converse `image` blocks with the format and the bytes. Images go
before the message's text."""

from __future__ import annotations

import base64

from parley.llm.base import ChatMessage, ChatRequest, ImagePart, TextDelta
from parley.llm.providers.anthropic import AnthropicModel
from parley.llm.providers.bedrock import BedrockModel
from parley.llm.providers.openai_compat import OpenAICompatibleModel
from tests.images.samples import PICTURE, gif_header
from tests.llm import test_anthropic_provider as anthropic_wire
from tests.llm import test_bedrock_provider as bedrock_wire
from tests.llm import test_openai_provider as openai_wire
from tests.llm.fake_upstream import FakeUpstream, collect
from tests.llm.test_bedrock_provider import _aws_credentials  # noqa: F401 (an autouse fixture)

GIF = gif_header(4, 4)
ENCODED_PICTURE = base64.b64encode(PICTURE).decode()
MESSAGES = (
    ChatMessage("system", "You are terse."),
    ChatMessage(
        "user",
        "What is in these?",
        images=(ImagePart("image/png", PICTURE, 3, 2, "high", 255), ImagePart("image/gif", GIF, 4, 4, "low", 85)),
    ),
)


async def test_openai_compatible_gets_image_url_parts(upstream: FakeUpstream) -> None:
    upstream.handler = openai_wire.streaming(openai_wire.answer("A red square."))
    model = OpenAICompatibleModel(openai_wire.model_config(upstream), data_dir=openai_wire.DATA_DIR)
    try:
        events = await collect(model, ChatRequest(MESSAGES))
    finally:
        await model.aclose()
    assert events[0] == TextDelta("A red square.")
    [received] = upstream.requests
    assert received.json()["messages"][1] == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{ENCODED_PICTURE}", "detail": "high"}},
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/gif;base64,{base64.b64encode(GIF).decode()}", "detail": "low"},
            },
            {"type": "text", "text": "What is in these?"},
        ],
    }


async def test_anthropic_gets_base64_image_blocks(upstream: FakeUpstream) -> None:
    upstream.handler = anthropic_wire.streaming(anthropic_wire.answer("A red square."))
    model = AnthropicModel(anthropic_wire.model_config(upstream), data_dir=anthropic_wire.DATA_DIR)
    try:
        await collect(model, ChatRequest(MESSAGES))
    finally:
        await model.aclose()
    [received] = upstream.requests
    assert received.json()["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ENCODED_PICTURE}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/gif", "data": base64.b64encode(GIF).decode()},
                },
                {"type": "text", "text": "What is in these?"},
            ],
        }
    ]


async def test_bedrock_gets_image_blocks_with_format_and_bytes(upstream: FakeUpstream) -> None:
    upstream.handler = bedrock_wire.streaming(bedrock_wire.answer("A red square."))
    model = BedrockModel(bedrock_wire.model_config(upstream), data_dir=bedrock_wire.DATA_DIR)
    try:
        await collect(model, ChatRequest(MESSAGES))
    finally:
        await model.aclose()
    [received] = [r for r in upstream.requests if r.method == "POST"]
    # botocore sends the bytes base64-encoded in the JSON body, as the Converse API wants them.
    assert received.json()["messages"] == [
        {
            "role": "user",
            "content": [
                {"image": {"format": "png", "source": {"bytes": ENCODED_PICTURE}}},
                {"image": {"format": "gif", "source": {"bytes": base64.b64encode(GIF).decode()}}},
                {"text": "What is in these?"},
            ],
        }
    ]
