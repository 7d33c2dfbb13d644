"""Reshaping a chat into the strict form the Anthropic Messages API and Bedrock Converse accept.

Both take the system prompt apart from the conversation, and both reject a conversation whose turns do not
alternate user/assistant starting with the user, or that holds an empty text block. Parley's history need
not have that shape (a system message mid-conversation, two user messages in a row after a failed answer, a
greeting from the assistant first), so it is normalised here once, for both providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from parley.llm.base import ChatMessage, ImagePart, ProviderError, ToolCall

TurnRole = Literal["user", "assistant"]
_JOINER = "\n\n"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's result (a `tool` message) as both APIs carry it: inside a user turn, naming the call."""

    tool_call_id: str
    content: str


@dataclass(frozen=True, slots=True)
class Turn:
    role: TurnRole
    text: str
    # An assistant turn's calls (Anthropic `tool_use`, Bedrock `toolUse`).
    tool_calls: tuple[ToolCall, ...] = ()
    # A user turn's results, which both APIs want before its text (`tool_result`, `toolResult`).
    tool_results: tuple[ToolResult, ...] = ()
    # A user turn's images, in order (both APIs take them as blocks before the text).
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    system: str | None
    turns: tuple[Turn, ...]


@dataclass(slots=True)
class _Gathering:
    role: TurnRole
    texts: list[str]
    calls: list[ToolCall]
    results: list[ToolResult]
    images: list[ImagePart]


def split_conversation(messages: Sequence[ChatMessage]) -> Conversation:
    """System messages, wherever they are, joined into one prompt; the rest merged into alternating turns.

    Consecutive messages of one role become one turn (their texts joined by a blank line, their tool calls or
    results kept in order); a `tool` message is a user turn holding its result. Blank messages without calls
    are skipped, and assistant turns before the first user turn are dropped: they carry no question, and
    both APIs refuse a conversation that opens with the assistant. Raises a non-retryable `ProviderError`
    when no user turn is left, since no provider could answer that.
    """
    system_parts: list[str] = []
    gathered: list[_Gathering] = []
    for message in messages:
        blank = not message.content.strip()
        if message.role == "system":
            if not blank:
                system_parts.append(message.content)
            continue
        role: TurnRole = "assistant" if message.role == "assistant" else "user"
        result = ToolResult(message.tool_call_id or "", message.content) if message.role == "tool" else None
        if blank and not message.tool_calls and result is None and not message.images:
            continue
        if not gathered and role == "assistant":
            continue
        if not gathered or gathered[-1].role != role:
            gathered.append(_Gathering(role, [], [], [], []))
        turn = gathered[-1]
        if result is not None:
            turn.results.append(result)
        elif not blank:
            turn.texts.append(message.content)
        turn.calls.extend(message.tool_calls)
        turn.images.extend(message.images)
    if not gathered:
        raise ProviderError("the conversation has no user message to answer", retryable=False)
    turns = tuple(
        Turn(g.role, _JOINER.join(g.texts), tuple(g.calls), tuple(g.results), tuple(g.images)) for g in gathered
    )
    return Conversation(system=_JOINER.join(system_parts) if system_parts else None, turns=turns)
