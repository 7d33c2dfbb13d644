"""The official `openai` Python SDK (its synchronous client, as most tools use it) against `parley serve`."""

from __future__ import annotations

import base64
import json

import openai
import pytest
from pydantic import BaseModel

from tests.images.samples import PICTURE, described, image_server, png

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Forecast(BaseModel):
    city: str
    degrees: int
    tomorrow: list[str]


def _client(parley_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{parley_url}/v1", api_key=api_key, max_retries=0)


def _looking_at(url: str, text: str = "what is this?", detail: str = "low") -> list[dict[str, object]]:
    """A user message with text and one `image_url` part, as OpenAI's vision guide writes it."""
    image = {"type": "image_url", "image_url": {"url": url, "detail": detail}}
    return [{"role": "user", "content": [{"type": "text", "text": text}, image]}]


class TestOpenAIPython:
    async def test_tool_round(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        question = [{"role": "user", "content": "Weather in Paris?"}]
        first = sdk.chat.completions.create(model="echo", messages=question, tools=[WEATHER])
        [call] = first.choices[0].message.tool_calls
        assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
        second = sdk.chat.completions.create(
            model="echo",
            messages=[*question, first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "18"}],
            tools=[WEATHER],
        )
        assert second.choices[0].message.content == "18" and second.choices[0].finish_reason == "stop"

    async def test_streamed_tool_calls(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        with sdk.chat.completions.stream(
            model="echo", messages=[{"role": "user", "content": "weather"}], tools=[WEATHER], tool_choice="required"
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
        assert "tool_calls.function.arguments.delta" in kinds and "tool_calls.function.arguments.done" in kinds
        [call] = final.choices[0].message.tool_calls
        assert json.loads(call.function.arguments) == {"city": "city 1"}

    async def test_structured_output_with_parse(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        completion = sdk.chat.completions.parse(
            model="echo", messages=[{"role": "user", "content": "forecast"}], response_format=Forecast
        )
        assert completion.choices[0].message.parsed == Forecast(city="city 1", degrees=1, tomorrow=["tomorrow 1"])

    async def test_pydantic_function_tool_parsed_arguments(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        completion = sdk.chat.completions.parse(
            model="echo",
            messages=[{"role": "user", "content": "forecast"}],
            tools=[openai.pydantic_function_tool(Forecast)],
        )
        [call] = completion.choices[0].message.tool_calls
        assert call.function.parsed_arguments == Forecast(city="city 1", degrees=1, tomorrow=["tomorrow 1"])

    async def test_a_model_without_tools_is_a_bad_request(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.chat.completions.create(
                model="text-only", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
            )
        assert raised.value.body["param"] == "tools"

    async def test_responses_tool_round_and_stream_helper(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        tool = {"type": "function", **WEATHER["function"]}
        first = sdk.responses.create(model="echo", input="Weather in Paris?", tools=[tool])
        [call] = first.output
        assert call.type == "function_call" and json.loads(call.arguments) == {"city": "city 1"}
        with sdk.responses.stream(
            model="echo",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"}],
            tools=[tool],
        ) as stream:
            text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
            final = stream.get_final_response()
        assert text == final.output_text == "18 degrees"
        assert sdk.responses.retrieve(final.id).previous_response_id == first.id

    async def test_legacy_completions(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        completion = sdk.completions.create(model="echo", prompt="say this", max_tokens=5)
        assert completion.choices[0].text == "say this" and completion.usage.completion_tokens == 2

    async def test_images_by_data_url_and_by_http_url(self, parley_url, api_key):
        # `eyes` answers with what it was shown (README, "Images"): the bytes sent, their real type and size.
        picture = png(5, 3, (10, 200, 30))
        data_url = "data:image/png;base64," + base64.b64encode(picture).decode()
        sdk = _client(parley_url, api_key)
        answer = sdk.chat.completions.create(model="eyes", messages=_looking_at(data_url))
        assert answer.choices[0].message.content == f"{described(picture, 'image/png', 5, 3)} what is this?"
        # A `low` image costs 85 prompt tokens (README, "Images"), on top of the text's; `original` (a detail the
        # SDK offers) counts as `high`: 85 + 170 for its one tile.
        assert answer.usage is not None and answer.usage.prompt_tokens > 85
        original = sdk.chat.completions.create(model="eyes", messages=_looking_at(data_url, detail="original"))
        assert original.usage is not None and original.usage.prompt_tokens == answer.usage.prompt_tokens + 170
        # An http URL, fetched by Parley (127.0.0.1 is allowed by the module's server settings); the async client,
        # since the image server runs on this test's event loop.
        async with image_server() as images:
            client = openai.AsyncOpenAI(base_url=f"{parley_url}/v1", api_key=api_key, max_retries=0)
            fetched = await client.chat.completions.create(
                model="eyes", messages=_looking_at(f"{images}/picture.png", "and this?")
            )
        assert fetched.choices[0].message.content == f"{described(PICTURE, 'image/png', 3, 2)} and this?"

    async def test_an_image_for_a_model_without_vision_is_a_bad_request(self, parley_url, api_key):
        data_url = "data:image/png;base64," + base64.b64encode(PICTURE).decode()
        with pytest.raises(openai.BadRequestError) as raised:
            _client(parley_url, api_key).chat.completions.create(model="text-only", messages=_looking_at(data_url))
        assert raised.value.body["param"] == "messages" and "vision" in raised.value.body["message"]
