"""The Responses event stream's items, from a scripted sequence of answer events (no server needed)."""

from __future__ import annotations

import json
import uuid

from parley.llm.base import Finish, TextDelta, ToolCallDelta, Usage
from parley.openai_api.service import Accounting
from parley.responses_api.objects import ResponseRecord
from parley.responses_api.stream import ResponseStream

SETTINGS = {
    "instructions": None,
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "text": {"format": {"type": "text"}},
    "temperature": 1.0,
    "top_p": 1.0,
    "max_output_tokens": None,
    "previous_response_id": None,
    "metadata": {},
    "store": False,
}


class _Answer:
    """What `ResponseStream` reads of a `RoutedAnswer`: its events, accounting and stop reason."""

    def __init__(self, events):
        self._events = events
        self.accounting = Accounting(model="scripted")
        self.stopped = None

    async def open(self):
        return self

    async def events(self):
        for event in self._events:
            if isinstance(event, Finish):
                self.accounting.usage = event.usage
            yield event


async def _events(answer_events):
    record = ResponseRecord(id=uuid.uuid4(), model="scripted", settings=SETTINGS, input=[])
    stream = ResponseStream(_Answer(answer_events), record, shield=None, keep=None)
    raw = [chunk async for chunk in stream.events()]
    return [json.loads(chunk.split(b"data: ", 1)[1]) for chunk in raw]


class TestItems:
    async def test_interleaved_calls_each_keep_their_own_arguments(self):
        events = await _events(
            [
                ToolCallDelta(0, id="call_a", name="first"),
                ToolCallDelta(1, id="call_b", name="second"),
                ToolCallDelta(0, arguments='{"x":'),
                ToolCallDelta(1, arguments='{"y":'),
                ToolCallDelta(0, arguments=" 1}"),
                ToolCallDelta(1, arguments=" 2}"),
                Finish("tool_calls", Usage(5, 6)),
            ]
        )
        done = events[-1]["response"]
        assert done["status"] == "completed"
        assert [(item["call_id"], json.loads(item["arguments"])) for item in done["output"]] == [
            ("call_a", {"x": 1}),
            ("call_b", {"y": 2}),
        ]
        deltas = [(e["output_index"], e["delta"]) for e in events if e["type"].endswith("arguments.delta")]
        assert deltas == [(0, '{"x":'), (1, '{"y":'), (0, " 1}"), (1, " 2}")]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))

    async def test_text_then_a_call_are_two_items_in_order(self):
        events = await _events(
            [
                TextDelta("Let me"),
                TextDelta(" check."),
                ToolCallDelta(0, id="call_a", name="lookup", arguments="{}"),
                Finish("tool_calls", Usage(1, 3)),
            ]
        )
        output = events[-1]["response"]["output"]
        assert [item["type"] for item in output] == ["message", "function_call"]
        assert output[0]["content"][0]["text"] == "Let me check." and output[1]["arguments"] == "{}"
        kinds = [e["type"] for e in events]
        # The message is done before the call is added.
        assert kinds.index("response.output_text.done") < kinds.index("response.function_call_arguments.delta")

    async def test_a_length_stop_is_incomplete(self):
        events = await _events([TextDelta("a"), Finish("length", Usage(1, 1))])
        assert events[-1]["type"] == "response.incomplete"
        assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
