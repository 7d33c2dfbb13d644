"""Letting one model API request in, whichever surface it came through (Chat Completions, legacy Completions,
Responses, Anthropic Messages, a batch line): the caller's plan and its requests-per-minute limit once per request,
then for each generation the model (among the plan's), the PII policy and the hold on the caller's quotas. A
refusal on the way is counted for the user's usage page (`refusals_counted`), as the web chat's are.

    async with admission(parts, principal, seeds, limiter) as gate:
        admitted = await gate.admit(body.model, chat_request)
    whole = await gate.complete(admitted)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from parley.auth.principal import Principal
from parley.chat import injection
from parley.chat.injection import InjectionScreen
from parley.chat.privacy import PromptPrivacy, Shield
from parley.db import Database
from parley.llm.base import ChatRequest
from parley.llm.registry import RegisteredModel
from parley.llm.router import Router
from parley.openai_api import service
from parley.openai_api.documents import DocumentSources
from parley.openai_api.open_streams import OpenStreams
from parley.openai_api.routed_answer import RoutedAnswer
from parley.plans import service as plans_service
from parley.plans.service import NamedPlan
from parley.policy.plans import Plan
from parley.policy.rates import RateLimiter
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger
from parley.quotas.service import Reservation


@dataclass(frozen=True)
class Parts:
    """What admitting and answering need of the running app (an endpoint's `request.app.state`, or the objects
    a batch worker was built with)."""

    database: Database
    router: Router
    ledger: Ledger
    privacy: PromptPrivacy
    reservation_seconds: float
    # Prompt injection in the caller's last message (README, "Prompt injection").
    injection: InjectionScreen = field(default_factory=InjectionScreen)

    @classmethod
    def of(cls, request: Request, ledger: Ledger) -> Parts:
        state = request.app.state
        return cls(
            database=state.database,
            router=state.router,
            ledger=ledger,
            privacy=state.chat_engine.privacy,
            reservation_seconds=state.settings.limits.reservation_seconds,
            injection=state.chat_engine.injection,
        )


@dataclass(frozen=True)
class Admitted:
    """One generation let in: the model that answers, the request as it may see it (PII policy applied, length
    cut to what the quotas leave: `capped`), the answer's PII shield and its hold on the quotas."""

    model: RegisteredModel
    request: ChatRequest
    shield: Shield | None
    reservation: Reservation
    capped: bool


@dataclass
class Gate:
    """One request's admission, open inside `admission(...)`."""

    parts: Parts
    principal: Principal
    plan: NamedPlan
    # The plan's rate-limit headers, for the response.
    limit_headers: dict[str, str] = field(default_factory=dict)

    def resolve(self, model_name: str, request: ChatRequest) -> RegisteredModel:
        """The model that answers `model_name` (an alias, `auto`…) among the plan's, able to do what `request`
        needs; else the 4xx saying why."""
        model = self.parts.router.resolve(model_name, request.messages, allowed=self.plan.plan.models, request=request)
        plans_service.require_model_access(self.plan, model.config.name)
        return model

    async def admit(self, model_name: str, request: ChatRequest, *, sources: DocumentSources | None = None) -> Admitted:
        parts = self.parts
        model = self.resolve(model_name, request)
        await self.screen(model, request)
        request, shield = await service.protect(
            parts.privacy, model, self.plan.plan, request, registry=parts.router.registry, sources=sources
        )
        request, reservation, capped = await service.reserve(
            parts.ledger, self.principal, self.plan, model, request, ttl_seconds=parts.reservation_seconds
        )
        return Admitted(model, request, shield, reservation, capped)

    async def screen(self, model: RegisteredModel, request: ChatRequest) -> None:
        """The caller's last message checked for prompt injection under their plan's policy: refused under
        `block` (400 `prompt_injection_refused`), recorded under `flag` (a unit of work of its own: /v1 holds no
        session while answering). Only the user's own words: tool results are data the detector was not made for."""
        said = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        screening = await self.parts.injection.check(self.plan.plan, said)
        origin = injection.Origin(self.principal.user_id, "api", model.config.name)
        await injection.refuse(self.parts.database, screening, origin)
        if screening.to_record:
            async with self.parts.database.session() as session:
                await injection.record(session, screening, origin)

    def routed_answer(self, admitted: Admitted, *, open_streams: OpenStreams | None) -> RoutedAnswer:
        """The admitted generation's streamed events and their accounting, for the surfaces with event formats of
        their own (Anthropic's messages, OpenAI's Responses and legacy completions)."""
        parts = self.parts
        return RoutedAnswer(
            parts.router,
            parts.database,
            parts.ledger,
            self.principal,
            admitted.model,
            admitted.request,
            open_streams=open_streams,
            reservation=admitted.reservation,
            capped=admitted.capped,
        )

    async def complete(self, admitted: Admitted, *, sources: DocumentSources | None = None) -> dict[str, Any]:
        """The whole answer in Chat Completions' shape, its usage recorded."""
        parts = self.parts
        return await service.complete(
            parts.router,
            parts.database,
            parts.ledger,
            self.principal,
            admitted.model,
            admitted.request,
            reservation=admitted.reservation,
            capped=admitted.capped,
            shield=admitted.shield,
            sources=sources,
        )


@asynccontextmanager
async def admission(
    parts: Parts, principal: Principal, seeds: Mapping[str, Plan], limiter: RateLimiter
) -> AsyncIterator[Gate]:
    """The caller's plan (read in a unit of work of its own: /v1 holds no session while answering) and its
    requests-per-minute limit; refusals inside count as the user's."""
    plan = await service.plan_of(parts.database, principal, seeds)
    async with quotas_service.refusals_counted(parts.database, principal.user_id):
        headers = await plans_service.admit_request(limiter, principal, plan)
        yield Gate(parts, principal, plan, headers)
