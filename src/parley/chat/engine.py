"""The generation engine: runs each answer in its own task, streams it as SSE events, checkpoints it, and
finalises it (message, usage record, title) whatever happens: finish, stop, disconnect, failure."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog

from parley.chat import context, finalisation, handover, repository
from parley.chat.generation import ConversationSnapshot, Generation
from parley.chat.grounding import Grounder, Grounding
from parley.chat.images import ChatImages
from parley.chat.injection import InjectionScreen
from parley.chat.privacy import PromptPrivacy, Shield
from parley.chat.relay import InProcessRelay, RunRelay
from parley.chat.runs import FENCED, Run, RunRegistry
from parley.config import LLMSettings
from parley.db import Database
from parley.errors import ParleyError
from parley.kit.sse import encode_delta, encode_event
from parley.llm.base import ChatRequest, Finish, GenerationParams, ProviderError, TextDelta, Usage, unreported_usage
from parley.llm.response_cache import CacheHit
from parley.llm.router import ModelSwitch, Router
from parley.metrics import instruments as metrics
from parley.policy.privacy import PiiDecision
from parley.privacy.redaction import StreamRestorer
from parley.privacy.settings import PrivacySettings
from parley.quotas.ledger import Ledger
from parley.tracing import spans as tracing

_logger = structlog.get_logger("parley.chat")
# After this many answers the modules and caches that load on first use (the model SDK and its HTTP client,
# tokenizer tables, compiled SQL) are in memory for good: they are moved out of the garbage collector's sight.
_FREEZE_AFTER_ANSWERS = 20
# With a relay, stale answers are looked for at least this often (one indexed query), to be taken over.
_HANDOVER_SWEEP_SECONDS = 5.0
# Answers cancelled for these reasons (the user's Stop, a client gone for good) still title their conversation.
_TITLED_CANCELS = frozenset({"stopped", "disconnected"})


class ChatEngine:
    def __init__(
        self,
        database: Database,
        router: Router,
        settings: LLMSettings,
        *,
        quota_ledger: Ledger,
        relay: RunRelay | None = None,
        grounder: Grounder | None = None,
        reservation_seconds: float = 900.0,
        privacy: PromptPrivacy | None = None,
        images: ChatImages | None = None,
        injection: InjectionScreen | None = None,
    ) -> None:
        self.database = database
        # Reads the images questions name (README, "Images"); None: questions are sent without them.
        self.images = images
        # Personal data in prompts (README, "PII"): masked or pseudonymised before the provider, restored after.
        self.privacy = privacy or PromptPrivacy(PrivacySettings())
        # Prompt injection in users' messages (README, "Prompt injection"), checked by chat.service and /v1.
        self.injection = injection or InjectionScreen()
        # Where answers are admitted against their users' quotas and settle what they spent.
        self.quota_ledger = quota_ledger
        # How long an answer's quota reservation outlives a process that died writing it.
        self.reservation_seconds = reservation_seconds
        # Finds sources in the user's documents; None: answers draw on the conversation only.
        self.grounder = grounder
        self.router = router
        self.settings = settings
        self.runs = RunRegistry(retention_seconds=settings.replay_retention_seconds)
        # Shares runs with other replicas (Redis), or does nothing when this process is the only one.
        self.relay: RunRelay = relay or InProcessRelay()
        self._sweeper: asyncio.Task[None] | None = None
        # The partial answers being written (message id -> their parts so far), checkpointed together by
        # one task: one statement per interval for all of them, not one transaction per answer.
        # With the run, whose writer token each checkpoint carries (chat.handover).
        self._writing: dict[uuid.UUID, tuple[list[str], Run]] = {}
        self._checkpointer: asyncio.Task[None] | None = None
        self._answers = 0
        # Stop requests to other replicas for suspended users, held here until they are delivered.
        self._stopping: set[asyncio.Task[None]] = set()
        # Stopping (chat.drain): this replica lets its answers go and takes over none of the others'.
        self.draining = False
        # Hosts a saved answer's Markdown images may load from (safety.markdown; README, "Prompt injection").
        self.image_hosts: tuple[str, ...] = ()

    # Lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        # The relay first: with one, the sweep takes answers over and continues them through it.
        await self.relay.start(self.runs)
        handover.sweep_on_release(self)
        await self.sweep_interrupted()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="interrupted-answer-sweeper")
        self._ensure_checkpointer()
        self.privacy.warm_up(self.router.registry)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._checkpointer is not None:
            self._checkpointer.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.runs.cancel_all("shutdown")
        # After the runs: their ends still reach readers on other replicas.
        await self.relay.aclose()

    @property
    def live_within(self) -> timedelta:
        """An unfinished answer checkpointed this recently is still being written (by some replica): every
        live answer's row is refreshed each checkpoint interval, so a few missed ones mean it is not."""
        return timedelta(seconds=self.settings.checkpoint_interval_seconds * 5)

    @property
    def stale_after(self) -> timedelta:
        # A live generation checkpoints every interval; the sweep waits several missed checkpoints at least.
        seconds = max(self.settings.interrupted_after_seconds, self.settings.checkpoint_interval_seconds * 3)
        return timedelta(seconds=seconds)

    async def sweep_interrupted(self) -> int:
        if self.relay.can_hand_over:  # another replica's answers are continued here, not cut (chat.handover)
            return await handover.take_over(self)
        keep = {run.message_id for run in self.runs.active()}
        async with self.database.session() as session:
            count = await repository.mark_interrupted(session, stale_after=self.stale_after, keep=keep)
        if count:
            _logger.warning("answers_interrupted", count=count)
        return count

    async def _sweep_forever(self) -> None:
        period = self.stale_after.total_seconds() / 2
        if self.relay.can_hand_over:  # a hand-over ends a pause its clients wait through: noticed sooner
            period = min(period, _HANDOVER_SWEEP_SECONDS)
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep_interrupted()
            except Exception as exc:  # a failed sweep is retried next round; the engine keeps serving
                _logger.error("sweep_failed", error=str(exc))

    # Running -----------------------------------------------------------------------------------------
    def launch(self, generation: Generation) -> None:
        self._ensure_checkpointer()
        if generation.continuation is not None:  # taken over from another replica: its stream goes on
            self.relay.adopt(generation.run)
        else:
            if self.relay.can_hand_over:
                generation.run.handover_note = handover.note(generation)
            self.relay.publish(generation.run)
        self.runs.start(generation.run, lambda _run: self._traced_generation(generation))

    def stop_answers_of(self, user_id: uuid.UUID) -> None:
        """Stop every answer being written for `user_id` (a suspended account): this replica's at once, the
        other replicas' through the relay, found by their fresh checkpoints. Meant to run once the suspension
        is committed, so that no answer the user could still start escapes it."""
        self.runs.cancel_user(user_id, "suspended")
        task = asyncio.create_task(self._stop_elsewhere(user_id), name=f"stop-answers-of-{user_id}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_elsewhere(self, user_id: uuid.UUID) -> None:
        try:
            async with self.database.session() as session:
                answering = await repository.conversations_answering(
                    session, user_id=user_id, live_within=self.live_within
                )
            elsewhere = [c for c in answering if (run := self.runs.get(c)) is None or run.finished]
            await asyncio.gather(*(self.relay.request_stop(c, wait_seconds=5.0, reason="suspended") for c in elsewhere))
        except Exception as exc:  # logged, not raised: the suspension itself stands and was already answered
            _logger.error("stop_answers_failed", user_id=str(user_id), error=str(exc))

    def _traced_generation(self, job: Generation) -> Coroutine[Any, Any, None]:
        # The run's task was created in the request (or the hand-over that started it) and carries its context:
        # this span, and the model calls' under it, belong to that request's trace.
        attributes = {"parley.model": job.model.config.name, "parley.message_id": str(job.message_id)}
        return tracing.traced("chat.generation", self._generate_counted(job), attributes)

    async def _generate_counted(self, job: Generation) -> None:
        """`_generate`, counted in parley_active_streams (the autoscaler's per-pod figure) while it runs, however
        it ends."""
        metrics.ACTIVE_STREAMS.inc()
        try:
            await self._generate(job)
        finally:
            metrics.ACTIVE_STREAMS.dec()

    async def _generate(self, job: Generation) -> None:
        run = job.run
        started = time.monotonic()
        parts: list[str] = []
        model_name = job.model.config.name
        spent: list[tuple[str, Usage]] = []
        usage: Usage | None = None
        finish_reason = "error"
        problem: dict[str, Any] | None = None
        ttft_ms: int | None = None
        prompt_tokens = 0
        capped = False  # the answer's length was cut to what the user's quotas left
        parts_before_model = 0  # of the answer, written by models abandoned before the current one
        new_summary: tuple[str | None, uuid.UUID | None] | None = None
        grounding = Grounding()
        cache_hit = False  # answered from the response cache: no provider was called
        shield: Shield | None = None
        restorer: StreamRestorer | None = None  # puts pseudonyms back into the answer (README, "PII")

        def emit(event: str, data: dict[str, Any]) -> None:
            run.append(encode_event(event, data, event_id=run.next_id()))

        append = run.append
        # One observation per delta, into the model's histogram child looked up once (again after a fallback).
        gaps = metrics.INTER_TOKEN.labels(model=model_name)
        last_delta = started

        continuation = job.continuation  # taken over: its clients have had its first events and text
        if continuation is None:
            emit(
                "message",
                {
                    "conversation_id": str(job.conversation_id),
                    "user_message_id": str(job.user_message_id),
                    "assistant_message_id": str(job.message_id),
                    "model": model_name,
                },
            )
        else:
            parts.extend(continuation.parts)
            parts_before_model = len(parts)
        self._writing[job.message_id] = (parts, run)
        run.generating = True
        try:
            snapshot = job.snapshot or await self._read_conversation(job)
            job.snapshot = None
            images = await self.images.of_history(job.user_id, snapshot.history) if self.images is not None else None
            shield = job.shield = await self._shield(job)  # what the model may see of personal data
            if self.grounder is not None and job.grounded:
                grounding = await self.grounder.ground(
                    user_id=job.user_id,
                    role=job.role,
                    conversation_id=job.conversation_id,
                    attachments=job.attachments,
                    question=job.question,
                    model=job.model,
                    budget_tokens=context.prompt_budget(job.model),
                    progress=lambda stage, details: emit("status", {"stage": stage, **details}),
                    protect=shield.texts if shield is not None else None,
                )
            system_prompt, sources = job.system_prompt or snapshot.system_prompt, grounding.message()
            if shield is not None:  # what the model may see of personal data (chat.privacy)
                system_prompt, snapshot, sources = await shield.inputs(system_prompt, snapshot, sources)
                restorer = shield.restorer()
            prompt = await context.build_prompt(
                self.router,
                job.model,
                system_prompt=system_prompt,
                history=snapshot.history,
                summary=snapshot.summary,
                summary_through=snapshot.summary_through_message_id,
                sources=sources,
                images=images,
            )
            del snapshot, images  # the history need not stay in memory while the answer streams
            prompt_tokens = prompt.prompt_tokens
            grounding.spent.extend(prompt.spent)
            if prompt.new_summary is not None:
                new_summary = (prompt.new_summary, prompt.summary_through)
            params, capped = _within_reservation(job, prompt_tokens)
            messages = prompt.messages
            if continuation is not None:
                messages = continuation.prompt(messages, provider=job.model.config.provider)
                if shield is not None:  # the partial answer it goes on from is restored text
                    messages = await shield.messages(messages)
                grounding.spent.append(continuation.spent_before(prompt_tokens=prompt_tokens))
            request = ChatRequest(messages, params)
            answer = (
                self.router.answer(
                    job.model,
                    request,
                    user_id=job.user_id,
                    grounded=job.grounded,
                    fresh=job.fresh,
                    allowed=job.reservation.plan.plan.models if job.reservation is not None else None,
                )
                if params.max_tokens != 0
                else _nothing_left()
            )
            async for event in answer:
                if type(event) is TextDelta:
                    now = time.monotonic()
                    if ttft_ms is None:
                        ttft_ms = int((now - started) * 1000)
                        tracing.first_token(ttft_ms)
                        metrics.TIME_TO_FIRST_TOKEN.labels(model=model_name).observe(now - started)
                    else:
                        gaps.observe(now - last_delta)
                    last_delta = now
                    text = event.text if restorer is None else restorer.feed(event.text)
                    if text:
                        parts.append(text)
                        append(encode_delta(text, len(run.events) + 1))
                elif isinstance(event, ModelSwitch):
                    if event.spent is not None:
                        spent.append((event.from_model, event.spent))
                    model_name = event.to_model
                    gaps = metrics.INTER_TOKEN.labels(model=model_name)
                    parts_before_model = len(parts)
                    emit("fallback", {"from_model": event.from_model, "model": event.to_model, "reason": event.reason})
                elif isinstance(event, Finish):
                    finish_reason = event.reason
                    usage = event.usage
                elif isinstance(event, CacheHit):
                    cache_hit = True
        except asyncio.CancelledError:
            finish_reason = "cancelled"
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except ParleyError as exc:
            problem = {
                "type": f"https://parley.dev/problems/{exc.code}",
                "title": exc.code,
                "status": exc.status,
                "detail": exc.message,
            }
        except ProviderError as exc:
            problem = {
                "type": "https://parley.dev/problems/model_unavailable",
                "title": "Bad Gateway",
                "status": 502,
                "detail": str(exc),
            }
        except Exception as exc:  # never leave an answer unfinished: record the failure, keep the partial text
            _logger.exception("generation_failed", error_type=type(exc).__name__)
            problem = {
                "type": "https://parley.dev/problems/internal_error",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "the answer could not be completed; it has been logged",
            }
        finally:
            if restorer is not None and run.cancel_reason != FENCED and (tail := restorer.flush()):
                parts.append(tail)
                append(encode_delta(tail, len(run.events) + 1))
            self._writing.pop(job.message_id, None)
            run.generating = False
        if run.cancel_reason == FENCED:  # another replica took the answer over: it writes and bills it now
            handover.stand_down(self, job, chars=len("".join(parts)))
            return
        if run.cancel_reason == handover.RELEASED:  # a draining replica lets it go: another one finishes it
            await handover.release(self, job, "".join(parts))
            return

        content = "".join(parts)
        if usage is None:
            # No count from the provider (stopped, failed): the last model spent what it generated, if anything.
            usage = unreported_usage(prompt_tokens=prompt_tokens, generated_tokens=len(parts) - parts_before_model)
        latency_ms = int((time.monotonic() - started) * 1000)
        outcome = metrics.answer_outcome(failed=problem is not None, finish_reason=finish_reason)
        citations = grounding.citations(content, job.question)
        # An answer cut to what the quotas left says so, rather than ending as if it had finished its thought.
        notice = job.reservation.notice() if capped and finish_reason == "length" and job.reservation else None
        try:
            cost = await finalisation.finalise(
                self,
                job,
                content=content,
                finish_reason=finish_reason,
                model_name=model_name,
                usage=usage,
                spent=spent,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                problem=problem,
                new_summary=new_summary,
                citations=citations,
                preparation=grounding.spent,
                cache_hit=cache_hit,
                notice=notice,
                provenance=grounding.provenance(),
            )
        except handover.Fenced:  # taken over while it ended here: the new writer finishes and bills it
            handover.stand_down(self, job, chars=len(content))
            return
        metrics.ANSWERS.labels(model=model_name, outcome=outcome).inc()
        job.result = {
            "conversation_id": str(job.conversation_id),
            "message_id": str(job.message_id),
            "user_message_id": str(job.user_message_id),
            "content": content,
            "finish_reason": finish_reason,
            "model": model_name,
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens},
            "cost": str(cost),
            "problem": problem,
            "citations": citations,
            "limit": notice,
        }
        run.mark_answered()
        self._answers += 1
        if self._answers == _FREEZE_AFTER_ANSWERS:
            _freeze_heap()
        if problem is not None:
            emit("error", {"problem": problem, "message_id": str(job.message_id)})
        else:
            emit(
                "done",
                {
                    "message_id": str(job.message_id),
                    "finish_reason": finish_reason,
                    "model": model_name,
                    "usage": job.result["usage"],
                    "cost": str(cost),
                    "citations": citations,
                    **({"limit": notice} if notice else {}),
                },
            )
        # A failure before any text leaves the title to the answer that follows (a retry), as the model is down;
        # so does an answer cut short by a shutdown or a suspension, where nobody waits for a title now.
        titled_ending = finish_reason != "cancelled" or run.cancel_reason in _TITLED_CANCELS
        if job.untitled and (problem is None or content) and titled_ending:
            await finalisation.title(self, job, content, emit, model_name, model_failed=problem is not None)
        run.finish()

    async def _shield(self, job: Generation) -> Shield | None:
        """The answer's protection of personal data: the strictest policy of its model and the fallbacks the
        router may switch to, for the user's plan (None: prompts go as written)."""
        plan = job.reservation.plan.plan if job.reservation is not None else None
        decision = self.privacy.decide_for(job.model, plan, self.router.registry)
        continued = job.continuation
        if plan is None and continued is not None and continued.pii_policy is not None:
            decision = PiiDecision(continued.pii_policy, "plan")  # as the request decided, on the replica that died
        return await self.privacy.shield(
            decision, database=self.database, user_id=job.user_id, conversation_id=job.conversation_id
        )

    async def _read_conversation(self, job: Generation) -> ConversationSnapshot:
        async with self.database.session() as session:
            row = await repository.conversation_state(session, job.conversation_id)
            history = [m for m in await repository.history(session, job.conversation_id) if m.id != job.message_id]
        return ConversationSnapshot(row.system_prompt, row.summary, row.summary_through_message_id, history)

    def _ensure_checkpointer(self) -> None:
        if self._checkpointer is None or self._checkpointer.done():
            self._checkpointer = asyncio.create_task(self._checkpoint_forever(), name="answer-checkpointer")

    async def _checkpoint_forever(self) -> None:
        """Save every partial answer each interval, so a crash loses at most that much (and so the sweep can
        tell these answers are still being written), in one statement for all of them."""
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval_seconds)
            await self.checkpoint()

    async def checkpoint(self) -> None:
        if not self._writing:
            return
        # Unchanged text still refreshes updated_at: the heartbeat.
        writing = list(self._writing.values())
        progress = [(run.message_id, "".join(parts), run.writer, run.user_id) for parts, run in writing]
        try:
            async with self.database.session() as session:
                fenced = set(await repository.save_progress(session, progress))
        except Exception as exc:  # a missed checkpoint is retried at the next interval
            _logger.warning("checkpoint_failed", error=str(exc), answers=len(progress))
            return
        # Another replica took these over while this one could not checkpoint them (a stall): they stop here.
        for _, run in writing:
            if run.message_id in fenced and run.fence():
                _logger.warning("answer_fenced", message_id=str(run.message_id), by="checkpoint")


def _within_reservation(job: Generation, prompt_tokens: int) -> tuple[GenerationParams, bool]:
    """The answer's settings, with its length cut to what its quota reservation allows once the prompt is
    known, when what the user had left cut the reservation; and whether it was cut."""
    params = job.params
    if job.reservation is None:
        return params, False
    allowance = job.reservation.output_allowance(prompt_tokens=prompt_tokens, model=job.model.config)
    if allowance is None or allowance >= (params.max_tokens or job.model.config.max_output_tokens):
        return params, False
    return replace(params, max_tokens=allowance), True


async def _nothing_left() -> AsyncIterator[Finish]:
    """The answer of a request whose quotas leave no room for any output after its prompt."""
    yield Finish("length")


def _freeze_heap() -> None:
    """Collect once, then exclude every object alive now from later collections (`gc.freeze`). A full
    collection walks every tracked object and stops the event loop meanwhile, i.e. every open stream at once;
    what is alive after start-up and the first answers (modules, caches, pools) lives as long as the process,
    so walking it again and again only makes those pauses longer."""
    gc.collect()
    gc.freeze()
