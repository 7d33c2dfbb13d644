"""LangChain's `langchain-openai` (`ChatOpenAI`) against `parley serve`: `with_structured_output` both ways it
asks (a JSON schema response format, and a forced function call), `bind_tools` with whole and streamed calls, and
the tool's result sent back as a `ToolMessage`."""

from __future__ import annotations

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel


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
