"""The official `anthropic` Python SDK (its synchronous client, as most tools use it), pointed at `parley serve`
with a Parley API key as its `api_key`: what a tool built on it (a coding assistant) does against `/v1/messages`."""

from __future__ import annotations

import base64

import anthropic
import httpx
import pytest

from tests.images.samples import PICTURE, described, image_server, jpeg_header

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _client(parley_url: str, api_key: str) -> anthropic.Anthropic:
    # The SDK adds `/v1/messages` itself; the key goes out in `x-api-key`, with `anthropic-version`.
    return anthropic.Anthropic(base_url=parley_url, api_key=api_key, max_retries=0)


def _looking_at(source: dict[str, str], text: str = "what is this?") -> list[dict[str, object]]:
    """A user message with an `image` block then the question, as Anthropic's vision guide writes it."""
    return [{"role": "user", "content": [{"type": "image", "source": source}, {"type": "text", "text": text}]}]


class TestAnthropicPython:
    async def test_a_plain_message(self, parley_url, api_key):
        message = _client(parley_url, api_key).messages.create(
            model="echo", max_tokens=64, system="be brief", messages=[{"role": "user", "content": "hello there"}]
        )
        assert message.content[0].type == "text" and message.content[0].text == "hello there"
        assert message.stop_reason == "end_turn" and message.usage.output_tokens == 2

    async def test_streaming_with_the_stream_helper(self, parley_url, api_key):
        with _client(parley_url, api_key).messages.stream(
            model="echo", max_tokens=64, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream:
            kinds = []
            for event in stream:
                kinds.append(event.type)
            final = stream.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert kinds.count("content_block_start") == 1 and "content_block_stop" in kinds
        assert final.content[0].text == "one two three four" and final.usage.output_tokens == 4

    async def test_a_tool_call_round_trip(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        question = [{"role": "user", "content": "Weather in Paris?"}]
        with sdk.messages.stream(model="echo", max_tokens=64, messages=question, tools=[WEATHER]) as stream:
            first = stream.get_final_message()
        [call] = first.content
        assert first.stop_reason == "tool_use"
        assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "city 1"}
        second = sdk.messages.create(
            model="echo",
            max_tokens=64,
            tools=[WEATHER],
            messages=[
                *question,
                {"role": "assistant", "content": first.content},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 and sunny"}],
                },
            ],
        )
        assert second.content[0].text == "18 and sunny" and second.stop_reason == "end_turn"

    async def test_errors_are_the_sdks_own_exceptions(self, parley_url, api_key):
        with pytest.raises(anthropic.AuthenticationError):
            _client(parley_url, "pk-no-such-key").messages.create(
                model="echo", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.NotFoundError) as unknown:
            _client(parley_url, api_key).messages.create(
                model="claude-not-configured", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        assert unknown.value.body["error"]["type"] == "not_found_error"
        # A model without tools is refused with a 400 rather than answering as though no tool was offered.
        with pytest.raises(anthropic.BadRequestError) as refused:
            _client(parley_url, api_key).messages.create(
                model="text-only", max_tokens=8, messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
            )
        assert refused.value.body["error"]["type"] == "invalid_request_error"

    async def test_count_tokens(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        messages = [{"role": "user", "content": "count these four words"}]
        counted = sdk.messages.count_tokens(model="echo", messages=messages)
        answered = sdk.messages.create(model="echo", max_tokens=8, messages=messages)
        assert counted.input_tokens == answered.usage.input_tokens == 4 + 4

    async def test_a_stop_sequence_is_named(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        messages = [{"role": "user", "content": "one two STOP three END four"}]
        message = sdk.messages.create(model="echo", max_tokens=64, messages=messages, stop_sequences=["END", "STOP"])
        assert message.content[0].text == "one two "  # the text before it, as the model wrote it
        assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")
        with sdk.messages.stream(model="echo", max_tokens=64, messages=messages, stop_sequences=["END"]) as stream:
            streamed = stream.get_final_message()
        assert streamed.content[0].text == "one two STOP three "
        assert (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", "END")
        # A sequence the answer never meets: the model's own end.
        plain = sdk.messages.create(model="echo", max_tokens=64, messages=messages, stop_sequences=["never"])
        assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)

    async def test_images_by_base64_streamed_and_by_url(self, parley_url, api_key):
        # `eyes` answers with what it was shown (README, "Images"): the bytes sent, their real type and size.
        photo = jpeg_header(640, 480)
        source = {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(photo).decode()}
        sdk = _client(parley_url, api_key)
        with sdk.messages.stream(model="eyes", max_tokens=64, messages=_looking_at(source)) as stream:
            streamed = stream.get_final_message()
        assert streamed.content[0].text == f"{described(photo, 'image/jpeg', 640, 480)} what is this?"
        async with image_server() as images:
            fetched = await anthropic.AsyncAnthropic(
                base_url=parley_url, api_key=api_key, max_retries=0
            ).messages.create(
                model="eyes", max_tokens=64, messages=_looking_at({"type": "url", "url": f"{images}/picture.png"})
            )
        assert fetched.content[0].text == f"{described(PICTURE, 'image/png', 3, 2)} what is this?"
        # A model that cannot read images refuses them rather than answering without.
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk.messages.create(model="text-only", max_tokens=8, messages=_looking_at(source))
        assert refused.value.body["error"]["type"] == "invalid_request_error"
        assert "does not support vision" in refused.value.body["error"]["message"]


class TestAnthropicModels:
    async def test_listing_and_retrieving_models_in_anthropics_shape(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        listed = list(sdk.models.list())
        assert [m.id for m in listed] == ["auto", "echo", "text-only", "eyes"]
        echo = listed[1]
        assert (echo.type, echo.display_name, echo.lifecycle) == ("model", "echo", "active")
        assert echo.created_at.tzinfo is not None
        assert sdk.models.retrieve("text-only").id == "text-only"
        with pytest.raises(anthropic.NotFoundError) as missing:
            sdk.models.retrieve("claude-not-configured")
        assert missing.value.body["error"]["type"] == "not_found_error"

    async def test_pages_follow_anthropics_cursors(self, parley_url, api_key):
        sdk = _client(parley_url, api_key)
        first = sdk.models.list(limit=2)
        assert [m.id for m in first.data] == ["auto", "echo"] and first.has_more and first.last_id == "echo"
        # The SDK's iterator follows `last_id` as `after_id` to the end.
        assert [m.id for m in first] == ["auto", "echo", "text-only", "eyes"]
        before = sdk.models.list(before_id="text-only", limit=1)
        assert ([m.id for m in before.data], before.has_more, before.first_id) == (["echo"], True, "echo")
        with pytest.raises(anthropic.BadRequestError) as unknown:
            sdk.models.list(after_id="nope")
        assert "after_id" in unknown.value.body["error"]["message"]

    async def test_openai_clients_keep_openais_shape(self, parley_url, api_key):
        async with httpx.AsyncClient(base_url=parley_url, headers={"authorization": f"Bearer {api_key}"}) as http:
            listed = (await http.get("/v1/models")).json()
            missing = await http.get("/v1/models/nope")
        assert listed["object"] == "list" and listed["data"][1]["object"] == "model" and "has_more" not in listed
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
