"""Parley's extensions to Chat Completions: `file_ids` and `knowledge_base_ids` (README, "Documents over /v1").

The completion answers from those documents through the web chat's own grounder (`chat.grounding`): the same
hybrid search among what the caller may read, the same numbered sources fenced as data, the same citations. What
differs is only where they go: the sources into the request's messages (then protected with them under the
model's PII policy, `service.protect`), the citations beside OpenAI's fields of the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from parley.auth.principal import Principal
from parley.chat import context
from parley.chat.grounding import Attachments, Grounder, Grounding, Protect
from parley.db import Database
from parley.errors import BadRequest, NotFound
from parley.files import service as file_service
from parley.knowledge_bases import service as knowledge_base_service
from parley.llm.base import ChatRequest
from parley.llm.registry import RegisteredModel
from parley.quotas import service as quotas_service


async def check_documents(
    database: Database,
    principal: Principal,
    *,
    file_ids: Sequence[uuid.UUID],
    knowledge_base_ids: Sequence[uuid.UUID],
) -> None:
    """Every file and knowledge base a request names must be one the caller may read: else a 404 naming the
    parameter (`file_ids.1`), the same for one that does not exist and one of another user's (never ignored)."""
    user_id, role = principal.user_id, principal.user.role
    async with database.session() as session:
        for index, file_id in enumerate(file_ids):
            try:
                await file_service.get_readable(session, user_id=user_id, role=role, file_id=file_id)
            except NotFound:
                raise NotFound(
                    f"The file '{file_id}' does not exist or you do not have access to it.",
                    param=f"file_ids.{index}",
                ) from None
        for index, knowledge_base_id in enumerate(knowledge_base_ids):
            try:
                await knowledge_base_service.require_readable(
                    session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id
                )
            except NotFound:
                raise NotFound(
                    f"The knowledge base '{knowledge_base_id}' does not exist or you do not have access to it.",
                    param=f"knowledge_base_ids.{index}",
                ) from None


@dataclass
class DocumentSources:
    """The documents a completion answers from (Parley's `file_ids` / `knowledge_base_ids` extensions), found
    by the web chat's grounder: the same retrieval, the same numbered sources fenced as data, the same
    citations. `grounding` holds what was found once `add_to` ran."""

    grounder: Grounder
    principal: Principal
    documents: Attachments
    grounding: Grounding = field(default_factory=Grounding)
    # The last user message: what was searched for, and whose words the citations' snippets show.
    question: str = ""

    async def add_to(
        self,
        request: ChatRequest,
        model: RegisteredModel,
        *,
        protect: Protect | None,
    ) -> ChatRequest:
        """`request` with the sources found for its last user message right after its system messages, where
        the web chat puts them. `protect`: how a document's text must look before a model summarises it."""
        self.question = question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        said = quotas_service.estimate_prompt_tokens([m.content for m in request.messages])
        self.grounding = await self.grounder.ground(
            user_id=self.principal.user_id,
            role=self.principal.user.role,
            conversation_id=None,
            attachments=self.documents,
            question=question,
            model=model,
            # What the caller's own messages leave of the window (a /v1 request's messages are not trimmed).
            budget_tokens=max(0, context.prompt_budget(model) - said),
            progress=_unreported,
            protect=protect,
        )
        sources = self.grounding.message()
        if sources is None:
            return request
        messages = list(request.messages)
        head = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        return replace(request, messages=[*messages[:head], sources, *messages[head:]])

    def citations(self, answer: str) -> list[dict[str, Any]]:
        """The web chat's citations: every source the model was given, `cited` when the answer says `[n]`."""
        return self.grounding.citations(answer, self.question)


def _unreported(stage: str, details: dict[str, Any]) -> None:
    """/v1 has no progress events: a completion's stream starts with its first token."""


def document_sources(grounder: Grounder | None, principal: Principal, documents: Attachments) -> DocumentSources | None:
    """The sources of a completion that names documents (None: it names none)."""
    if not documents:
        return None
    if grounder is None:
        raise BadRequest(
            "this Parley does not search documents",
            param="knowledge_base_ids" if documents.knowledge_base_ids else "file_ids",
        )
    return DocumentSources(grounder, principal, documents)


async def readable_sources(
    grounder: Grounder | None,
    database: Database,
    principal: Principal,
    *,
    file_ids: Sequence[uuid.UUID] | None,
    knowledge_base_ids: Sequence[uuid.UUID] | None,
) -> DocumentSources | None:
    """The sources of a completion naming these documents (None: it names none), each checked to be one the
    caller may read (`check_documents`: a 404 naming the parameter, else)."""
    named = Attachments(
        file_ids=tuple(dict.fromkeys(file_ids or ())),
        knowledge_base_ids=tuple(dict.fromkeys(knowledge_base_ids or ())),
    )
    sources = document_sources(grounder, principal, named)
    if sources is not None:
        await check_documents(database, principal, file_ids=file_ids or (), knowledge_base_ids=knowledge_base_ids or ())
    return sources
