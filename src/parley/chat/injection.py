"""Prompt injection in what users send (README, "Prompt injection"): the detector (`safety.injection.detect`) run
on a user's message before the provider, under the policy of their plan (`policy.plans.injection_policy`).

- `allow`: not checked. `flag`: answered, and recorded for review (an audit row and a `safety.flagged` event, in
  the caller's unit of work). `block`: refused (`PromptInjectionRefused`: 422 on /api, 400 with the code
  `prompt_injection_refused` on /v1), the refusal recorded in a unit of work of its own (the request's rolls back).
- A detector that raises or takes too long is logged and counted (`failed`); the message is then answered, unless
  `PARLEY_SAFETY__FAIL_CLOSED` is true and the policy is `block` (refused).

Records hold the score, the reasons and the policy, never the text. Used by the web chat (chat.service) and by
every /v1 surface (openai_api.admission).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley import events
from parley.audit.service import AuditAction
from parley.audit.service import record as audit_record
from parley.errors import Unprocessable
from parley.metrics import instruments as metrics
from parley.policy.plans import InjectionMode, Plan, injection_policy
from parley.safety.injection import Verdict, detect
from parley.safety.settings import SafetySettings

if TYPE_CHECKING:
    from parley.db import Database

_logger = structlog.get_logger("parley.safety")

FLAGGED_EVENT = "safety.flagged"
REFUSAL = (
    "This message looks like an attempt to override the assistant's instructions (a prompt injection or "
    "jailbreak), which this workspace's policy does not allow. Rephrase it and send it again."
)


class PromptInjectionRefused(Unprocessable):
    code = "prompt_injection_refused"


@dataclass(frozen=True, slots=True)
class Screening:
    """One message's check: the policy applied, the detector's verdict (None: not checked, or it failed) and
    what was done with the message."""

    policy: InjectionMode
    verdict: Verdict | None
    outcome: Literal["unchecked", "clean", "flagged", "blocked", "failed"]

    @property
    def to_record(self) -> bool:
        """A flagged message (answered or refused): recorded for review."""
        return self.verdict is not None and self.verdict.flagged

    def details(self, origin: Origin) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "surface": origin.surface,
            "model": origin.model,
            "policy": self.policy,
            "action": "refused" if self.outcome == "blocked" else "answered",
            "score": round(verdict.score, 4) if verdict is not None else None,
            "reasons": verdict.reasons if verdict is not None else [],
        }


@dataclass(frozen=True, slots=True)
class Origin:
    """Whose message it was, where it came in (`chat`, `api`) and the model it was for: what a record names."""

    user_id: uuid.UUID
    surface: str
    model: str


class InjectionScreen:
    """The process's check of users' messages; `detector` is replaceable for tests."""

    def __init__(self, settings: SafetySettings | None = None, *, detector: Callable[[str], Verdict] = detect) -> None:
        self.settings = settings or SafetySettings()
        self.detector = detector

    async def check(self, plan: Plan | None, text: str) -> Screening:
        """The verdict on `text` under `plan`'s policy; never raises for the detector's own failure."""
        policy = injection_policy(plan)
        if policy == "allow" or not text.strip():
            return Screening(policy, None, "unchecked")
        try:
            # ~5 ms per 500 tokens of CPU: off the event loop.
            verdict = await asyncio.wait_for(asyncio.to_thread(self.detector, text), self.settings.timeout_seconds)
        except Exception:  # any failure of the detector (or its timeout) is the same event: counted, logged
            metrics.INJECTION_CHECKS.labels(outcome="failed").inc()
            closed = self.settings.fail_closed and policy == "block"
            _logger.exception("injection_check_failed", policy=policy, refused=closed)
            return Screening(policy, None, "blocked" if closed else "failed")
        if not verdict.flagged:
            outcome: Literal["clean", "flagged", "blocked"] = "clean"
        else:
            outcome = "blocked" if policy == "block" else "flagged"
        metrics.INJECTION_CHECKS.labels(outcome=outcome).inc()
        return Screening(policy, verdict, outcome)


async def record(session: AsyncSession, screening: Screening, origin: Origin) -> None:
    """Record a flagged message for review in the caller's unit of work: an audit row and an outbox event."""
    if not screening.to_record:
        return
    details = screening.details(origin)
    audit_record(
        session,
        AuditAction.SAFETY_FLAGGED,
        actor_id=origin.user_id,
        target_type="user",
        target_id=origin.user_id,
        details=details,
    )
    await events.emit(session, FLAGGED_EVENT, {"user_id": str(origin.user_id), **details})


async def refuse(database: Database, screening: Screening, origin: Origin) -> None:
    """Under `block` (or a failure under fail-closed): record the refusal in a unit of work of its own (the
    request's own rolls back with the error) and raise `PromptInjectionRefused`."""
    if screening.outcome != "blocked":
        return
    if screening.to_record:
        async with database.session() as session:
            await record(session, screening, origin)
    raise PromptInjectionRefused(REFUSAL, openai_code=PromptInjectionRefused.code)
