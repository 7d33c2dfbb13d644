"""What a run is given by the request that started it: the answer to write, its settings, the conversation as the
request read it, and its hold on the user's quotas."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from parley.chat.grounding import Attachments
from parley.chat.runs import Run
from parley.llm.base import GenerationParams
from parley.llm.registry import RegisteredModel
from parley.quotas.service import Reservation

if TYPE_CHECKING:
    from parley.chat.handover import Continuation
    from parley.chat.privacy import Shield


class Said(Protocol):
    """A message of the history as a prompt needs it (a stored `Message`, or `repository.Turn`)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


@dataclass(frozen=True)
class ConversationSnapshot:
    """The conversation as the request that started a run read it (prompt settings, and the history with the
    new question, without the answer's placeholder), so the run does not read it all again."""

    system_prompt: str | None
    summary: str | None
    summary_through_message_id: uuid.UUID | None
    history: Sequence[Said]


@dataclass
class Generation:
    """Everything a run needs, gathered by the request that started it."""

    run: Run
    model: RegisteredModel
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    user_message_id: uuid.UUID
    params: GenerationParams
    api_key_id: uuid.UUID | None = None
    system_prompt: str | None = None
    # The conversation is still called "New chat": this answer, however it ends, gives it a title.
    untitled: bool = False
    role: str = "user"
    # The question being answered and the documents it names: what grounding retrieves for.
    question: str = ""
    attachments: Attachments = field(default_factory=Attachments)
    # Whether the answer draws on documents (named on the message, or the conversation's): decided by the
    # request, in its transaction, so a plain chat costs the run nothing here.
    grounded: bool = False
    # None: the run reads the conversation itself. Dropped once the prompt is built.
    snapshot: ConversationSnapshot | None = None
    # The answer's hold on the user's quotas (`quotas.service.admit`), settled with its usage.
    reservation: Reservation | None = None
    # The user asked for another answer (regenerate): the response cache's stored one will not do.
    fresh: bool = False
    # Set when this run continues an answer another replica was writing (`chat.handover`).
    continuation: Continuation | None = None
    result: dict[str, Any] = field(default_factory=dict)
    # Set by the run once its prompt is protected (README, "PII"): its title is written from the same view.
    shield: Shield | None = None
