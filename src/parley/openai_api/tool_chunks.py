"""Tool calls in Chat Completions' wire format: whole (`message.tool_calls`) and streamed (`delta.tool_calls`,
the first piece of each call with its id, type and name, then pieces of its arguments)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from parley.chat.privacy import Shield
from parley.llm.base import ToolCall, ToolCallDelta
from parley.privacy.redaction import StreamRestorer


def tool_calls_body(calls: Sequence[ToolCall], *, restore: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
    """`message.tool_calls` of a whole completion (with pseudonyms put back in the arguments by `restore`)."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": restore(call.arguments) if restore else call.arguments},
        }
        for call in calls
    ]


class ToolCallChunks:
    """Streamed tool-call deltas, with pseudonyms put back into each call's arguments when the prompt was
    pseudonymised: a restorer per call, since a placeholder can be split between two pieces."""

    def __init__(self, shield: Shield | None) -> None:
        self._shield = shield
        self._restorers: dict[int, StreamRestorer | None] = {}

    def delta(self, event: ToolCallDelta) -> dict[str, Any]:
        arguments = event.arguments
        if self._shield is not None:
            if event.index not in self._restorers:
                self._restorers[event.index] = self._shield.restorer()
            restorer = self._restorers[event.index]
            if restorer is not None:
                arguments = restorer.feed(arguments)
        call: dict[str, Any] = {"index": event.index}
        function: dict[str, Any] = {}
        if event.id is not None:
            call["id"] = event.id
            call["type"] = "function"
        if event.name is not None:
            function["name"] = event.name
        if arguments or event.id is not None:
            function["arguments"] = arguments
        if function:
            call["function"] = function
        return {"tool_calls": [call]}

    def flush(self) -> list[dict[str, Any]]:
        """The argument text restorers still hold (a trailing `<` that began no placeholder), as last deltas."""
        deltas = []
        for index, restorer in sorted(self._restorers.items()):
            tail = restorer.flush() if restorer is not None else ""
            if tail:
                deltas.append({"tool_calls": [{"index": index, "function": {"arguments": tail}}]})
        return deltas
