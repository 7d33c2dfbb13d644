"""pydantic-ai against `parley serve`: an agent's `output_type` (a pydantic model, returned through a tool call) and
an agent that calls a Python function tool and answers with its result; images in the user prompt."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_ai import Agent, BinaryContent, ImageUrl
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.images.samples import PICTURE, described, image_server, jpeg_header


class Weather(BaseModel):
    city: str
    degrees: int


def _model(parley_url: str, api_key: str, name: str = "echo") -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=f"{parley_url}/v1", api_key=api_key))


class TestPydanticAI:
    async def test_output_type(self, parley_url, api_key):
        agent = Agent(_model(parley_url, api_key), output_type=Weather)
        result = await agent.run("The weather in Paris?")
        assert result.output == Weather(city="city 1", degrees=1)
        assert result.usage.output_tokens > 0

    async def test_a_function_tool_round(self, parley_url, api_key):
        agent = Agent(_model(parley_url, api_key))
        asked: list[str] = []

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather in a city."""
            asked.append(city)
            return f"18 degrees in {city}"

        result = await agent.run("The weather in Paris?")
        assert asked == ["city 1"]
        assert result.output == "18 degrees in city 1"

    async def test_images_as_binary_content_and_as_a_url(self, parley_url, api_key):
        # `eyes` answers with what it was shown (README, "Images"); the URL is passed on and fetched by Parley.
        agent = Agent(_model(parley_url, api_key, "eyes"))
        photo = jpeg_header(32, 24)
        sent = await agent.run(["what is this?", BinaryContent(photo, media_type="image/jpeg")])
        assert sent.output == f"{described(photo, 'image/jpeg', 32, 24)} what is this?"
        async with image_server() as images:
            linked = await agent.run(["and this?", ImageUrl(f"{images}/picture.png")])
        assert linked.output == f"{described(PICTURE, 'image/png', 3, 2)} and this?"
