"""Hand-over: an answer whose replica died (or let it go while draining) is continued by another one.

With several replicas (the Redis relay), every event an answer streams is in its Redis stream: what its clients
saw, more current than its last checkpoint in the database. When a replica dies, its answers' checkpoints stop;
the others' sweep (every 5 s at most) finds them stale and claims them, each answer by exactly one replica
(`repository.claim_stale`: one UPDATE … RETURNING on rows re-checked under their lock). The claimer reads the
stream back, rebuilds the run from its events (same ids, same text) and continues the answer on the model that
was writing it (its fallbacks if it fails), asking it to go on exactly where the text stops: the conversation,
then the partial answer as the assistant's own turn. Its events continue the same stream with the next ids, so
a client that reconnects to any replica with `Last-Event-ID` gets one continuous answer, neither losing nor
repeating text. The message records that it was handed over (`metadata.handed_over`), as do the audit log and
the logs.

What the continuing replica needs beyond the stream (settings, the quota hold to end) travels with the run's
first event as its hand-over note (`note`), never sent to clients. Billing: the part written before the hand-over
is recorded once by the replica that finishes the answer (as counted from the stream: the dead replica recorded
nothing), the continuation with its provider's own count; the dead replica's quota hold is ended with it.

Fencing: a replica that is slow but alive (its database connection hung past the stale window, a long stall)
has its answers taken over like a dead one's, and must then write no more of them. Every answer has a writer
token: the run that starts it puts one in the message (`metadata.writer`), each claim puts a new one there, in
the same statement. The token is also in Redis next to the stream (`…:run:{conversation}:writer`, set
atomically with reading the stream back, before the taker's first event), and every event is appended by a
script that refuses it unless the token is still the appender's. The old writer learns it was fenced from
whichever it reaches first: a refused append, a checkpoint (`repository.save_progress` writes only the rows whose
token is still the writer's and reports the others), or its finish (`repository.finish_answer`). It then stops
at once (the model call is cancelled), relays no end, saves and bills nothing (the taker bills what was written
before the hand-over, as counted from the stream), ends its quota hold and ends its own readers, which reconnect
and read the taker's continuation. A release (`repository.save_released`) is fenced likewise.

The token lives in the message's metadata rather than a column, so no migration is needed and old replicas
during a rolling upgrade keep working; it is dropped when the answer is finished (a finished answer takes no
more writes anyway). In Redis it is a key of its own next to the stream: a stream's entries cannot be changed,
and the append script reads the key atomically with the append.

A draining replica (`chat.drain`) lets its unfinished answers go at its deadline: they stop without an end,
their checkpoint dated back (`repository.save_released`), and the other replicas are told to sweep at once.

Without Redis (one process) there is nobody to hand over to: the sweep marks such answers `interrupted`, as
before.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import structlog

from parley.audit.service import AuditAction
from parley.audit.service import record as audit
from parley.chat import repository
from parley.chat.generation import Generation
from parley.chat.grounding import Attachments
from parley.chat.runs import Run
from parley.conversations.service import DEFAULT_TITLE
from parley.db import after_commit_awaited
from parley.errors import Conflict
from parley.llm.base import ChatMessage, GenerationParams, Usage, unreported_usage
from parley.metrics import instruments as metrics
from parley.privacy.settings import PII_MODES, PiiMode
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Hold, Ledger

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from parley.chat.engine import ChatEngine

_logger = structlog.get_logger("parley.chat.handover")

# Why a run is cancelled when a draining replica lets it go to another replica rather than ending it.
RELEASED = "released"
# Answers one sweep takes over at most; the rest are left to the next sweep (or to the other replicas').
_AT_ONCE = 100
# Providers that continue a trailing assistant message as their own (prefill); others are asked to.
_PREFILL_PROVIDERS = frozenset({"anthropic", "scripted"})
_CONTINUE_INSTRUCTION = (
    "Your previous reply above was cut off. Continue it exactly where it stops, as if never interrupted: do not "
    "repeat any of it, do not acknowledge the interruption."
)


class Fenced(Exception):
    """The answer this run was finishing has another writer now (another replica took it over)."""


@dataclass
class Continuation:
    """An answer taken over: what its clients already have of it, and what the replica that wrote it held."""

    parts: list[str]  # its text as streamed, token by token
    model: str  # the model that wrote it (after any fallback)
    events: int  # events relayed before the hand-over (the next has id events + 1)
    hold: Hold | None  # the writer's hold on the user's quotas, ended when this answer settles
    # The policy for personal data the request's plan set (groups and the user's override applied; None: the
    # models' own), so the continuation's prompt is protected as the first writer's was.
    pii_policy: PiiMode | None = None

    def prompt(self, messages: list[ChatMessage], *, provider: str) -> list[ChatMessage]:
        """The prompt of the continuation: the conversation, then the partial answer as the assistant's turn."""
        text = "".join(self.parts)
        if not text:
            return messages
        continued = [*messages, ChatMessage("assistant", text)]
        if provider not in _PREFILL_PROVIDERS:
            continued.append(ChatMessage("user", _CONTINUE_INSTRUCTION))
        return continued

    def spent_before(self, *, prompt_tokens: int) -> tuple[str, Usage]:
        """What writing the part before the hand-over spent (nobody recorded it): its prompt, and its tokens."""
        return self.model, unreported_usage(prompt_tokens=prompt_tokens, generated_tokens=len(self.parts))

    def record(self) -> dict[str, Any]:
        """What the message keeps about the hand-over (`metadata.handed_over`)."""
        return {"after_event": self.events, "chars": sum(len(part) for part in self.parts), "model": self.model}

    def end_hold(self, session: AsyncSession, ledger: Ledger) -> None:
        """End the writer's hold on the quotas once the answer's usage is committed (or not)."""
        hold = self.hold
        if hold is None:
            return

        async def release() -> None:
            try:
                await ledger.apply([], [hold])
            except Exception as exc:  # the hold expires on its own
                _logger.warning("handover_hold_not_released", error=str(exc))

        after_commit_awaited(session, release, on_rollback=release)


def note(job: Generation) -> bytes:
    """The hand-over note of a run about to start: what its request decided that the stream does not show."""
    reservation = job.reservation
    hold = None
    if reservation is not None and reservation.id is not None:
        groups = [str(budget.group_id) for budget in reservation.plan.group_budgets]
        hold = {"id": str(reservation.id), "groups": groups}
    params = asdict(job.params)
    params["stop"] = list(job.params.stop)
    return json.dumps(
        {
            "message_id": str(job.message_id),
            "user_id": str(job.user_id),
            "user_message_id": str(job.user_message_id),
            "model": job.model.config.name,
            "params": params,
            "api_key_id": str(job.api_key_id) if job.api_key_id else None,
            "system_prompt": job.system_prompt,
            "role": job.role,
            "grounded": job.grounded,
            "attachments": job.attachments.as_json(),
            "hold": hold,
            "pii_policy": reservation.plan.plan.pii_policy if reservation is not None else None,
        },
        separators=(",", ":"),
    ).encode()


async def take_over(engine: ChatEngine) -> int:
    """The sweep with a relay: claim the answers nobody is writing any more and continue them here; those that
    cannot be continued (nothing complete relayed, model gone) become `interrupted`. Returns how many did."""
    if engine.draining:  # stopping: the answers this replica lets go are for the others to take
        return 0
    keep = {run.message_id for run in engine.runs.active()}
    async with engine.database.session() as session:
        claims = await repository.claim_stale(session, stale_after=engine.stale_after, keep=keep, at_most=_AT_ONCE)
    lost: list[uuid.UUID] = []
    taken = 0
    for message_id, conversation_id, writer in claims:
        try:
            continued = await _continue(engine, message_id, conversation_id, writer)
        except Exception:  # this answer is lost; the others are still taken over
            _logger.exception("handover_failed", message_id=str(message_id))
            continued = False
        if continued:
            taken += 1
        else:
            lost.append(message_id)
    if lost:
        async with engine.database.session() as session:
            await repository.mark_interrupted_ids(session, lost)
        _logger.warning("answers_interrupted", count=len(lost))
        metrics.HANDOVERS.labels(outcome="interrupted").inc(len(lost))
    if taken:
        _logger.info("answers_taken_over", count=taken)
        metrics.HANDOVERS.labels(outcome="taken_over").inc(taken)
    return len(lost)


async def _continue(engine: ChatEngine, message_id: uuid.UUID, conversation_id: uuid.UUID, writer: str) -> bool:
    # The stream is this writer's from here on (a writer still alive elsewhere can append nothing more to it), and
    # what it holds is what that writer's clients were sent.
    relayed = await engine.relay.replay(conversation_id, writer=(message_id, writer))
    if relayed is None or relayed.ended or relayed.note is None:
        return False
    noted = json.loads(relayed.note)
    if noted.get("message_id") != str(message_id):
        return False  # the stream is another answer's
    parts: list[str] = []
    model_name: str = noted["model"]
    for event, data in (_decode(encoded) for encoded in relayed.events):
        if event == "delta":
            parts.append(data["text"])
        elif event == "fallback":
            model_name = data["model"]
        elif event in ("done", "error"):
            return False  # it ended; only saving it failed
    registry = engine.router.registry
    model = registry.get(model_name) or registry.get(noted["model"])
    if model is None:
        return False
    user_id = uuid.UUID(noted["user_id"])
    user_message_id = uuid.UUID(noted["user_message_id"])
    async with engine.database.session() as session:
        conversation = await repository.conversation_state(session, conversation_id)
        untitled = conversation.title == DEFAULT_TITLE
        question = await repository.message_content(session, user_message_id) or ""
    written = len(parts)
    params = noted["params"]
    max_tokens = params.get("max_tokens")
    hold = noted.get("hold")
    run = Run(conversation_id=conversation_id, message_id=message_id, user_id=user_id)
    run.writer = writer
    run.events = list(relayed.events)
    run.handover_note = relayed.note
    try:
        engine.runs.reserve(run)
    except Conflict:
        return False
    continuation = Continuation(
        parts=parts,
        model=model.config.name,
        events=len(relayed.events),
        hold=Hold(uuid.UUID(hold["id"]), user_id, tuple(uuid.UUID(g) for g in hold["groups"])) if hold else None,
        pii_policy=noted.get("pii_policy") if noted.get("pii_policy") in PII_MODES else None,
    )
    engine.launch(
        Generation(
            run=run,
            model=model,
            user_id=user_id,
            conversation_id=conversation_id,
            message_id=message_id,
            user_message_id=user_message_id,
            params=GenerationParams(
                temperature=params.get("temperature"),
                top_p=params.get("top_p"),
                # What is left of the answer's length.
                max_tokens=max(1, max_tokens - written) if max_tokens else None,
                stop=tuple(params.get("stop") or ()),
            ),
            api_key_id=uuid.UUID(noted["api_key_id"]) if noted.get("api_key_id") else None,
            system_prompt=noted.get("system_prompt"),
            untitled=untitled,
            role=noted.get("role", "user"),
            question=question,
            attachments=Attachments.from_json(noted.get("attachments")),
            grounded=bool(noted.get("grounded")),
            fresh=True,
            continuation=continuation,
        )
    )
    # Its clients went with the replica that died: if none comes back, the answer stops like any abandoned one.
    run.expect_listener(grace_seconds=engine.settings.disconnect_grace_seconds)
    details = {"conversation_id": str(conversation_id), **continuation.record()}
    _logger.info("answer_taken_over", message_id=str(message_id), **details)
    async with engine.database.session() as session:
        audit(
            session,
            AuditAction.ANSWER_HANDED_OVER,
            actor_id=None,
            target_type="message",
            target_id=message_id,
            details={**details, "user_id": str(user_id)},
        )
    return True


def _decode(encoded: bytes) -> tuple[str, dict[str, Any]]:
    """The name and data of one encoded SSE event (`kit.sse.encode_event`: one `data:` line of JSON)."""
    event, data = "message", "{}"
    for line in encoded.decode().split("\n"):
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
    decoded: dict[str, Any] = json.loads(data)
    return event, decoded


async def release(engine: ChatEngine, job: Generation, content: str) -> None:
    """Let an unfinished answer go (a drain): no end is relayed, its stream stays for the replica that takes it
    over, its checkpoint is dated back so that happens at once; this replica's own readers are ended, to
    reconnect (through the load balancer) to the others. Its quota hold stays, for the taker to end."""
    run = job.run
    engine.relay.release(run)
    saved = True
    try:
        async with engine.database.session() as session:
            saved = await repository.save_released(
                session, job.message_id, content, writer=run.writer, owner=run.user_id
            )
    except Exception as exc:  # the others take it over after the stale window instead
        _logger.warning("release_checkpoint_failed", error=str(exc))
    if saved:
        _logger.info("answer_released", message_id=str(job.message_id), chars=len(content))
    else:  # taken over already: what it wrote after that went nowhere
        _logger.warning("answer_fenced", message_id=str(job.message_id), chars=len(content), by="release")
        metrics.HANDOVERS.labels(outcome="fenced").inc()
    run.finish()


def stand_down(engine: ChatEngine, job: Generation, *, chars: int) -> None:
    """Stop writing an answer another replica has taken over (fenced): no end is relayed (the stream is the
    taker's), nothing is saved or billed (the taker bills what was written before it took over), the quota hold
    ends, and this replica's own readers are ended, to reconnect and read the taker's continuation."""
    run = job.run
    engine.relay.release(run)
    if job.reservation is not None:
        quotas_service.release_in_background(engine.quota_ledger, job.reservation)
    _logger.warning("answer_fenced", message_id=str(job.message_id), chars=chars)
    metrics.HANDOVERS.labels(outcome="fenced").inc()
    run.finish()


def sweep_on_release(engine: ChatEngine) -> None:
    """Sweep as soon as another replica announces answers it let go, rather than at the next round."""
    sweeping: set[asyncio.Task[None]] = set()

    async def sweep() -> None:
        try:
            await engine.sweep_interrupted()
        except Exception as exc:  # the periodic sweep takes them instead
            _logger.error("sweep_failed", error=str(exc))

    def sweep_now() -> None:
        task = asyncio.get_running_loop().create_task(sweep(), name="handover-sweep")
        sweeping.add(task)
        task.add_done_callback(sweeping.discard)

    engine.relay.on_release(sweep_now)
