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

from parley.llm.base import ChatMessage, ProviderError

TurnRole = Literal["user", "assistant"]
_JOINER = "\n\n"


@dataclass(frozen=True, slots=True)
class Turn:
    role: TurnRole
    text: str


@dataclass(frozen=True, slots=True)
class Conversation:
    system: str | None
    turns: tuple[Turn, ...]


def split_conversation(messages: Sequence[ChatMessage]) -> Conversation:
    """System messages, wherever they are, joined into one prompt; the rest merged into alternating turns.

    Consecutive messages of one role become one turn (their texts joined by a blank line), blank messages
    are skipped, and assistant turns before the first user turn are dropped: they carry no question, and
    both APIs refuse a conversation that opens with the assistant. Raises a non-retryable `ProviderError`
    when no user turn is left, since no provider could answer that.
    """
    system_parts: list[str] = []
    roles: list[TurnRole] = []
    texts: list[list[str]] = []
    for message in messages:
        if not message.content.strip():
            continue
        if message.role == "system":
            system_parts.append(message.content)
            continue
        if not roles and message.role == "assistant":
            continue
        if roles and roles[-1] == message.role:
            texts[-1].append(message.content)
        else:
            roles.append(message.role)
            texts.append([message.content])
    if not roles:
        raise ProviderError("the conversation has no user message to answer", retryable=False)
    turns = tuple(Turn(role, _JOINER.join(parts)) for role, parts in zip(roles, texts, strict=True))
    return Conversation(system=_JOINER.join(system_parts) if system_parts else None, turns=turns)
