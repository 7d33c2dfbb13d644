"""LangChain's `langchain-openai` (`ChatOpenAI`) against `parley serve`: `with_structured_output` both ways it
asks (a JSON schema response format, and a forced function call), `bind_tools` with whole and streamed calls, and
the tool's result sent back as a `ToolMessage`; images in a `HumanMessage`."""

from __future__ import annotations

import base64

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.images.samples import described, png


class Weather(BaseModel):
    city: str
    degrees: int


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"18 degrees in {city}"


def _llm(parley_url: str, api_key: str) -> ChatOpenAI:
    return ChatOpenAI(model="echo", base_url=f"{parley_url}/v1", api_key=api_key, max_retries=0)


class TestLangChain:
    async def test_structured_output_by_json_schema_and_by_function_calling(self, parley_url, api_key):
        llm = _llm(parley_url, api_key)
        assert await llm.with_structured_output(Weather, method="json_schema").ainvoke("weather") == Weather(
            city="city 1", degrees=1
        )
        assert await llm.with_structured_output(Weather, method="function_calling").ainvoke("weather") == Weather(
            city="city 1", degrees=1
        )

    async def test_bind_tools_and_the_tool_result(self, parley_url, api_key):
        llm = _llm(parley_url, api_key).bind_tools([get_weather])
        question = HumanMessage("What is the weather in Paris?")
        called = await llm.ainvoke([question])
        [call] = called.tool_calls
        assert call["name"] == "get_weather" and call["args"] == {"city": "city 1"}
        result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
        answer = await llm.ainvoke([question, called, result])
        assert answer.content == "18 degrees in city 1" and not answer.tool_calls

    async def test_streamed_tool_calls_are_assembled(self, parley_url, api_key):
        llm = _llm(parley_url, api_key).bind_tools([get_weather], tool_choice="get_weather")
        chunks = [chunk async for chunk in llm.astream("weather?")]
        assert len(chunks) > 3
        whole = chunks[0]
        for chunk in chunks[1:]:
            whole += chunk
        assert isinstance(whole, AIMessageChunk)
        assert [(c["name"], c["args"]) for c in whole.tool_calls] == [("get_weather", {"city": "city 1"})]

    async def test_images_in_a_human_message(self, parley_url, api_key):
        # OpenAI's `image_url` part as it is, and LangChain's own `image` block (which langchain-openai turns into
        # one); `eyes` answers with what it was shown (README, "Images").
        llm = ChatOpenAI(model="eyes", base_url=f"{parley_url}/v1", api_key=api_key, max_retries=0)
        picture = png(4, 4, (0, 0, 255))
        encoded = base64.b64encode(picture).decode()
        openai_part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}
        langchain_block = {"type": "image", "base64": encoded, "mime_type": "image/png"}
        for image in (openai_part, langchain_block):
            answer = await llm.ainvoke([HumanMessage(content=[{"type": "text", "text": "what is this?"}, image])])
            assert answer.content == f"{described(picture, 'image/png', 4, 4)} what is this?"
