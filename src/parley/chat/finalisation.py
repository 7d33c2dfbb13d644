"""The end of an answer, whatever ended it: its final state saved, its usage billed and its quota hold ended (in
one transaction, only while this run is still the answer's writer), and the title of a conversation still
called "New chat"."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from parley.audit import service as audit_service
from parley.audit.service import AuditAction
from parley.chat import context, handover, repository
from parley.chat.generation import Generation
from parley.conversations.service import DEFAULT_TITLE
from parley.llm.base import Usage
from parley.quotas import service as quotas_service
from parley.safety.markdown import neutralise_markdown
from parley.usage import service as usage_service

if TYPE_CHECKING:
    from parley.chat.engine import ChatEngine


async def finalise(
    engine: ChatEngine,
    job: Generation,
    *,
    content: str,
    finish_reason: str,
    model_name: str,
    usage: Usage,
    spent: list[tuple[str, Usage]],
    latency_ms: int,
    ttft_ms: int | None,
    problem: dict[str, Any] | None,
    new_summary: tuple[str | None, uuid.UUID | None] | None,
    citations: list[dict[str, Any]],
    preparation: list[tuple[str, Usage]],
    cache_hit: bool = False,
    notice: dict[str, str] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Decimal:
    charges = usage_service.price_completion(
        engine.router.registry.config,
        model=model_name,
        usage=usage,
        # Models that spent tokens on this answer before it: summaries of documents and of old turns,
        # abandoned fallbacks.
        abandoned=[*preparation, *spent],
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        cache_hit=cache_hit,
    )
    cost = charges[-1].cost_usd
    extra: dict[str, Any] = {"cost": str(cost), "latency_ms": latency_ms, "ttft_ms": ttft_ms}
    if problem is not None:
        extra["problem"] = problem
    if spent:
        extra["fallbacks"] = [name for name, _ in spent]
    if notice is not None:
        extra["limit"] = notice
    if job.continuation is not None:
        extra["handed_over"] = job.continuation.record()
    # writer: the user's next reads (on a read replica) see the finished answer.
    async with engine.database.session(writer=job.user_id) as session:
        # Saved only while still this run's to finish, and held so until the commit (no claim takes it
        # meanwhile): else another replica writes it now, and nothing of it is billed or saved here.
        finished = await repository.finish_answer(
            session,
            job.message_id,
            writer=job.run.writer,
            owner=job.user_id,
            conversation_id=job.conversation_id,
            # Images from hosts not allowed and scripted links never reach the API, exports or other clients.
            content=neutralise_markdown(content, image_hosts=engine.image_hosts),
            finish_reason="error" if problem is not None else finish_reason,
            model=model_name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            extra=extra,
            citations=citations or None,
            summary=new_summary,
        )
        if not finished:
            raise handover.Fenced(job.message_id)
        if provenance is not None:
            # Retrieval provenance (README, "Audit trail"): which document chunks this answer showed its user.
            audit_service.record(
                session,
                AuditAction.RETRIEVAL_PROVENANCE,
                actor_id=job.user_id,
                target_type="message",
                target_id=job.message_id,
                details={"conversation_id": str(job.conversation_id), **provenance},
            )
        await usage_service.record_charges(
            session,
            engine.quota_ledger,
            charges,
            user_id=job.user_id,
            conversation_id=job.conversation_id,
            message_id=job.message_id,
            api_key_id=job.api_key_id,
        )
        if job.continuation is not None:
            job.continuation.end_hold(session, engine.quota_ledger)
        if job.reservation is not None:
            # The answer's spend is in the ledger now (with its usage rows): its hold on the quotas ends.
            await quotas_service.settle(session, engine.quota_ledger, job.reservation)
    return cost


async def title(
    engine: ChatEngine, job: Generation, answer: str, emit: Any, model_name: str, *, model_failed: bool
) -> None:
    """Title a conversation still called "New chat" after its answer ended, however it ended: a stopped,
    failed or empty first answer must not leave it untitled for good. A title that is itself cancelled (a
    second stop, shutdown) leaves the default, and the conversation's next answer titles it instead."""
    try:
        await _write_title(engine, job, answer, emit, model_name, model_failed=model_failed)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()


async def _write_title(
    engine: ChatEngine, job: Generation, answer: str, emit: Any, model_name: str, *, model_failed: bool
) -> None:
    question = ""
    async with engine.database.session() as session:
        question = await repository.message_content(session, job.user_message_id) or ""
    if model_failed:
        # The model has just failed: asking it again would only delay the end of the stream.
        title = context.title_from_question(question)
    else:
        # The model that actually answered (after any fallback) writes the title, from whatever text exists.
        model = engine.router.registry.get(model_name) or job.model
        shield = job.shield
        if shield is not None:  # the title is written from what the answer's model was allowed to see
            question, answer = await shield.texts([question, answer])
        title = await context.generate_title(engine.router, model, question=question, answer=answer)
        if shield is not None:
            title = replace(title, text=shield.restore(title.text))
    async with engine.database.session(writer=job.user_id) as session:
        updated = await repository.set_default_title(
            session, job.conversation_id, title.text, default=DEFAULT_TITLE, owner=job.user_id
        )
        # The title's tokens are the user's too (counted with the answer it names).
        await usage_service.record_spent(
            session,
            engine.quota_ledger,
            engine.router.registry.config,
            title.spent,
            user_id=job.user_id,
            conversation_id=job.conversation_id,
            message_id=job.message_id,
            api_key_id=job.api_key_id,
        )
    if updated:
        emit("title", {"conversation_id": str(job.conversation_id), "title": title.text})
