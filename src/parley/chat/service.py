"""Chat: a user's message in, an answer streamed out; regenerate, edit, stop, resume, message history."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.principal import Principal
from parley.chat import context, injection, repository
from parley.chat.engine import ChatEngine
from parley.chat.generation import ConversationSnapshot, Generation
from parley.chat.grounding import Attachments
from parley.chat.images import vision_probe
from parley.chat.repository import Turn
from parley.chat.runs import STILL_ANSWERING, Run, RunFeed
from parley.conversations import service as conversation_service
from parley.db import after_commit
from parley.errors import Conflict, NotFound
from parley.files import service as file_service
from parley.kit.clock import utcnow
from parley.kit.pagination import decode_position, encode_position
from parley.knowledge_bases import service as knowledge_base_service
from parley.llm.base import ChatMessage, GenerationParams
from parley.llm.registry import RegisteredModel
from parley.models import Conversation, Message
from parley.plans import service as plans_service
from parley.plans.service import NamedPlan
from parley.quotas import service as quotas_service
from parley.quotas.service import Reservation

# How long a stop waits for the answer to be finalised before reporting what is saved.
_STOP_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Started:
    generation: Generation

    @property
    def run(self) -> Run:
        return self.generation.run


async def send(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    conversation_id: uuid.UUID | None,
    message: str,
    model: str | None,
    system_prompt: str | None,
    params: GenerationParams,
    plan: NamedPlan,
    attachments: Attachments = Attachments(),
) -> Started:
    """Save the user's message (committed before any model is called) and start the answer. `attachments` name
    files and knowledge bases this message may draw on (beyond the conversation's own); `plan` (the user's)
    decides which models they may use."""
    if conversation_id is None:
        conversation = await conversation_service.create(session, user_id=principal.user_id)
        history: list[Turn] = []
        has_documents = False
    else:
        # Read once, here: the engine builds the prompt from it rather than reading it again.
        conversation, history, has_documents = await _open_for_answer(session, engine, principal, conversation_id)
    attachments = await _separate_images(session, principal, attachments)
    registered = engine.router.resolve(
        model or conversation.model,
        [ChatMessage("user", message)],
        allowed=plan.plan.models,
        request=vision_probe(message, attachments),
    )
    plans_service.require_model_access(plan, registered.config.name)
    # Before anything is saved: a message the PII policy blocks is refused (422), not stored (README, "PII").
    await engine.privacy.refuse_blocked(registered, plan.plan, message, registry=engine.router.registry)
    await _screen(session, engine, principal, plan, registered, message)
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
    conversation.model = registered.config.name
    user_message = repository.new_message(conversation_id=conversation.id, role="user", content=message)
    if attachments or attachments.image_file_ids:
        await _check_attachments(session, principal, conversation_id=conversation.id, attachments=attachments)
        user_message.extra = {"attachments": attachments.as_json()}
    reservation = await _reserve(
        session,
        engine,
        principal,
        plan,
        registered,
        params,
        system_prompt=system_prompt or (None if conversation_id is None else conversation.system_prompt),
        texts=[*(m.content for m in history), message],
        grounded=bool(attachments) or has_documents,
        untitled=conversation.title == conversation_service.DEFAULT_TITLE,
    )
    return await _start(
        session,
        engine,
        principal,
        new_question=user_message,
        conversation_id=conversation.id,
        user_message_id=user_message.id,
        registered_model=registered,
        params=params,
        system_prompt=system_prompt,
        # Still titled "New chat" (new, or its first answer ended before a title was written): this answer titles it.
        untitled=conversation.title == conversation_service.DEFAULT_TITLE,
        question=message,
        attachments=attachments,
        grounded=bool(attachments) or has_documents,
        reservation=reservation,
        # A conversation created just now has no summary (nor those attributes loaded).
        snapshot=ConversationSnapshot(
            system_prompt if conversation_id is None else conversation.system_prompt,
            None if conversation_id is None else conversation.summary,
            None if conversation_id is None else conversation.summary_through_message_id,
            [*history, Turn(user_message.id, "user", message, user_message.extra.get("attachments"))],
        ),
    )


async def _screen(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    plan: NamedPlan,
    registered: RegisteredModel,
    message: str,
) -> None:
    """The message checked for prompt injection (README, "Prompt injection"): refused (422, not stored) under
    `block`, recorded with the answer's unit of work under `flag`."""
    screening = await engine.injection.check(plan.plan, message)
    origin = injection.Origin(principal.user_id, "chat", registered.config.name)
    await injection.refuse(engine.database, screening, origin)
    await injection.record(session, screening, origin)


async def regenerate(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    conversation_id: uuid.UUID,
    edited_message: str | None,
    model: str | None,
    params: GenerationParams,
    plan: NamedPlan,
    attachments: Attachments | None = None,
) -> Started:
    """Answer the last user message again (replacing it first when edited); the old answer is removed.
    `attachments` replace the documents the message named; without them it keeps those it had."""
    conversation, history, has_documents = await _open_for_answer(session, engine, principal, conversation_id)
    last_user_index = next((i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None)
    if last_user_index is None:
        raise Conflict("there is no message to answer in this conversation yet")
    last_user = history[last_user_index]
    await repository.delete_messages(session, [m.id for m in history[last_user_index + 1 :]])
    if attachments is not None:
        attachments = await _separate_images(session, principal, attachments)
        await _check_attachments(session, principal, conversation_id=conversation.id, attachments=attachments)
    await repository.restate_question(
        session,
        last_user.id,
        owner=principal.user_id,
        content=edited_message,
        attachments=attachments.as_json() if attachments is not None else None,
    )
    if edited_message is not None:
        last_user = replace(last_user, content=edited_message)
        history[last_user_index] = last_user
    if attachments is None:
        attachments = Attachments.from_json(last_user.attachments)
    else:  # the prompt shows the images it names now
        history[last_user_index] = replace(history[last_user_index], attachments=attachments.as_json())
    registered = engine.router.resolve(
        model or conversation.model,
        [ChatMessage("user", last_user.content)],
        allowed=plan.plan.models,
        request=vision_probe(last_user.content, attachments),
    )
    plans_service.require_model_access(plan, registered.config.name)
    await engine.privacy.refuse_blocked(registered, plan.plan, last_user.content, registry=engine.router.registry)
    await _screen(session, engine, principal, plan, registered, last_user.content)
    conversation.model = registered.config.name
    reservation = await _reserve(
        session,
        engine,
        principal,
        plan,
        registered,
        params,
        system_prompt=conversation.system_prompt,
        texts=[*(m.content for m in history[: last_user_index + 1])],
        grounded=bool(attachments) or has_documents,
        untitled=conversation.title == conversation_service.DEFAULT_TITLE,
    )
    return await _start(
        session,
        engine,
        principal,
        new_question=None,
        conversation_id=conversation.id,
        user_message_id=last_user.id,
        registered_model=registered,
        params=params,
        system_prompt=None,
        untitled=conversation.title == conversation_service.DEFAULT_TITLE,
        question=last_user.content,
        attachments=attachments,
        grounded=bool(attachments) or has_documents,
        reservation=reservation,
        fresh=True,
        snapshot=ConversationSnapshot(
            conversation.system_prompt,
            conversation.summary,
            conversation.summary_through_message_id,
            history[: last_user_index + 1],
        ),
    )


async def _open_for_answer(
    session: AsyncSession, engine: ChatEngine, principal: Principal, conversation_id: uuid.UUID
) -> tuple[Conversation, list[Turn], bool]:
    """The caller's conversation (locked), its history and whether it has documents, once no answer is being
    written in it. One answer at a time per conversation, across replicas: an unfinished answer whose
    checkpoints are fresh is being written somewhere; the row lock keeps two replicas from both passing."""
    found = await repository.conversation_for_answer(
        session, user_id=principal.user_id, conversation_id=conversation_id, live_within=engine.live_within
    )
    if found is None:
        raise NotFound("conversation not found")
    current = engine.runs.get(conversation_id)
    if current is not None and not current.finished and not current.answered:
        raise Conflict(STILL_ANSWERING)
    if found.being_written:
        raise Conflict(STILL_ANSWERING)
    return found.conversation, found.history, found.has_documents


def _being_written(engine: ChatEngine, message: Message) -> bool:
    return (
        message.role == "assistant"
        and message.finish_reason is None
        and message.updated_at >= utcnow() - engine.live_within
    )


async def _reserve(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    plan: NamedPlan,
    registered: RegisteredModel,
    params: GenerationParams,
    *,
    system_prompt: str | None,
    texts: list[str],
    grounded: bool,
    untitled: bool,
) -> Reservation:
    """Admit the answer against the user's quotas, reserving its estimate (committed at once; released if the
    request's own unit of work then fails): the prompt
    (system prompt and the conversation so far, fitted to the model's window; a grounded one is filled with
    sources up to it), the longest answer it may write, and the title a new conversation gets after it."""
    budget = context.prompt_budget(registered)
    system = context.system_message(system_prompt).content
    prompt = budget if grounded else min(budget, quotas_service.estimate_prompt_tokens([system, *texts]))
    return await quotas_service.admit(
        engine.quota_ledger,
        session=session,
        user_id=principal.user_id,
        plan=plan,
        model=registered.config,
        prompt_tokens=prompt,
        max_tokens=params.max_tokens,
        overhead_tokens=context.title_tokens_at_most(texts[-1]) if untitled else 0,
        ttl_seconds=engine.reservation_seconds,
    )


async def _start(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    new_question: Message | None,
    conversation_id: uuid.UUID,
    user_message_id: uuid.UUID,
    registered_model: RegisteredModel,
    params: GenerationParams,
    system_prompt: str | None,
    untitled: bool,
    question: str,
    attachments: Attachments,
    grounded: bool,
    reservation: Reservation,
    snapshot: ConversationSnapshot,
    fresh: bool = False,
) -> Started:
    answer = repository.new_message(
        conversation_id=conversation_id, role="assistant", content="", model=registered_model.config.name
    )
    run = Run(conversation_id=conversation_id, message_id=answer.id, user_id=principal.user_id)
    # Its writer token: the run's checkpoints and finish apply while the message still names it (chat.handover).
    answer.extra = {"writer": run.writer}
    # The question (unless it is an older one answered again) and the answer's placeholder, in that order.
    await repository.insert_messages(
        session, [answer] if new_question is None else [new_question, answer], owner=principal.user_id
    )
    engine.runs.reserve(run)
    generation = Generation(
        run=run,
        model=registered_model,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        message_id=answer.id,
        user_message_id=user_message_id,
        params=params,
        api_key_id=principal.api_key_id,
        system_prompt=system_prompt,
        untitled=untitled,
        role=principal.user.role,
        question=question,
        attachments=attachments,
        grounded=grounded,
        reservation=reservation,
        fresh=fresh,
        snapshot=snapshot,
    )
    # The answer starts only once the user's message is committed; if the commit fails, nothing runs.
    after_commit(session, lambda: engine.launch(generation), on_rollback=lambda: _abandon(engine, run, reservation))
    return Started(generation)


def _abandon(engine: ChatEngine, run: Run, reservation: Reservation) -> None:
    """The request's unit of work failed after the answer was admitted: nothing runs, nothing stays held."""
    engine.runs.release(run)
    quotas_service.release_in_background(engine.quota_ledger, reservation)


async def _separate_images(session: AsyncSession, principal: Principal, attachments: Attachments) -> Attachments:
    """The named files that are the caller's images (README, "Images") moved from the documents to the images the
    message shows the model."""
    images = await file_service.own_images(session, user_id=principal.user_id, file_ids=attachments.file_ids)
    if not images:
        return attachments
    image_ids = {file.id for file in images}
    return replace(
        attachments,
        file_ids=tuple(i for i in attachments.file_ids if i not in image_ids),
        image_file_ids=tuple(i for i in attachments.file_ids if i in image_ids),
    )


async def _check_attachments(
    session: AsyncSession, principal: Principal, *, conversation_id: uuid.UUID, attachments: Attachments
) -> None:
    """Every named file and knowledge base must be readable by the caller (404 otherwise, like a missing one).
    The caller's own files not yet in a conversation join this one, so its later messages draw on them too."""
    user_id, role = principal.user_id, principal.user.role
    for file_id in attachments.file_ids:
        file = await file_service.get_readable(session, user_id=user_id, role=role, file_id=file_id)
        if file.user_id == user_id and file.conversation_id is None:
            file.conversation_id = conversation_id
    for knowledge_base_id in attachments.knowledge_base_ids:
        await knowledge_base_service.require_readable(
            session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id
        )


async def stop(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, conversation_id: uuid.UUID
) -> Message | None:
    """Stop the answer being generated, here or on another replica; its text so far is kept (finish_reason
    `cancelled`)."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    run = engine.runs.get(conversation.id)
    if run is not None and run.cancel("stopped"):
        # The answer saved is what the caller asked for; a title written after it need not hold up the reply.
        async with asyncio.timeout(_STOP_WAIT_SECONDS):
            await run.answer_saved.wait()
    elif run is None or run.finished:
        await engine.relay.request_stop(conversation.id, wait_seconds=_STOP_WAIT_SECONDS)
    history = await repository.history(session, conversation.id)
    answers = [m for m in history if m.role == "assistant"]
    if not answers:
        return None
    await session.refresh(answers[-1])
    return answers[-1]


async def live_run(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, conversation_id: uuid.UUID
) -> RunFeed:
    """The generation of a conversation to (re)attach to: running, or finished moments ago; here, or on another
    replica (whose latest run supersedes one that finished here)."""
    await conversation_service.require_owned(session, user_id=principal.user_id, conversation_id=conversation_id)
    run = engine.runs.get(conversation_id)
    if run is not None and not run.finished:
        return run
    feed = await engine.relay.find(conversation_id) or run
    if feed is None:
        raise NotFound("nothing is being generated in this conversation")
    return feed


async def messages_page(
    session: AsyncSession, principal: Principal, *, conversation_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Message], str | None]:
    """Messages newest first, `limit` at a time; `next_cursor` pages further back."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    before = decode_position(cursor) if cursor else None
    rows = await repository.page(session, conversation_id=conversation.id, before_seq=before, limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return items, encode_position(items[-1].seq) if more and items else None


async def delete_message(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, message_id: uuid.UUID
) -> None:
    message = await repository.get_owned(session, user_id=principal.user_id, message_id=message_id)
    if message is None:
        raise NotFound("message not found")
    run = engine.runs.get(message.conversation_id)
    written_here = run is not None and not run.answered and not run.finished and run.message_id == message.id
    if written_here or _being_written(engine, message):  # here, or by another replica
        raise Conflict("this answer is still being generated; stop it first")
    await repository.delete_messages(session, [message.id])
