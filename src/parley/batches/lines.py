"""Running one line of a batch through the same code as `/v1/chat/completions` and `/v1/embeddings`: the same
plan, model access, rate limits, PII policy, quotas and usage records (with the batch's API key), so a batch can
do nothing its key could not do one request at a time.

A line's answer is what the endpoint would have answered: a status and an OpenAI body. A per-minute rate limit is
not an answer: the line waits (`RetryLater`) and runs once the limit frees up, where a used-up quota is (an error
line with the 429's body, as the endpoint would have said)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.chat.engine import ChatEngine
from parley.config import EmbeddingSettings, LimitsSettings
from parley.db import Database
from parley.embeddings import Embedder
from parley.errors import ParleyError, QuotaExceeded, RateLimited
from parley.images.loader import ImageLoader
from parley.llm.base import ProviderError
from parley.llm.router import Router
from parley.openai_api import documents
from parley.openai_api.admission import Parts, admission
from parley.openai_api.embeddings import EmbeddingRequest, create_embeddings
from parley.openai_api.errors import failure_status, openai_error_body
from parley.openai_api.schemas import ChatCompletionRequest
from parley.openai_api.translate import to_chat_request
from parley.policy.plans import Plan
from parley.policy.rates import RateLimiter
from parley.quotas.ledger import Ledger

_DEFAULT_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class LineAnswer:
    status: int
    body: dict[str, Any]
    request_id: str
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status < 400


class RetryLater(Exception):
    """The line cannot run yet (a per-minute rate limit, rate-limited models): run it again after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry in {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class LineRunner:
    """What a line needs of the running app (the same objects the /v1 endpoints use)."""

    database: Database
    router: Router
    chat_engine: ChatEngine
    limiter: RateLimiter
    ledger: Ledger
    seeds: Mapping[str, Plan]
    embedder: Embedder
    embedding_settings: EmbeddingSettings
    limits: LimitsSettings
    images: ImageLoader

    async def run(self, principal: Principal, endpoint: str, body: dict[str, Any]) -> LineAnswer:
        request_id = f"req_{uuid.uuid4().hex}"
        try:
            if not principal.can(Permission.CHAT):
                return _error(request_id, 403, "This API key lacks the scope(s): chat", None)
            if endpoint == "/v1/embeddings":
                answer = await self._embeddings(principal, body)
            else:
                answer = await self._chat(principal, body)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(part) for part in first["loc"]) or None
            return _error(request_id, 400, f"{param}: {first['msg']}" if param else first["msg"], param)
        except QuotaExceeded as exc:
            error = _error(request_id, 429, exc.message, None)
            error.body["error"].update(type="insufficient_quota", code="insufficient_quota")
            return error
        except RateLimited as exc:
            raise RetryLater(float(exc.extra.get("retry_after", _DEFAULT_WAIT_SECONDS))) from exc
        except ParleyError as exc:
            status = 400 if exc.status == 422 else exc.status
            param = exc.extra.get("param")
            return _error(request_id, status, exc.message, param if isinstance(param, str) else None)
        except ProviderError as exc:
            # Rate-limited models, or models resting behind an open circuit: worth waiting out.
            if exc.status == 429 or (exc.status == 503 and exc.retry_after is not None):
                raise RetryLater(exc.retry_after or _DEFAULT_WAIT_SECONDS) from exc
            return _error(request_id, failure_status(exc), str(exc), None)
        usage = answer.get("usage") or {}
        return LineAnswer(
            200,
            answer,
            request_id,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    async def _chat(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """The steps of `POST /v1/chat/completions`, whole (a batch line does not stream)."""
        request = ChatCompletionRequest.model_validate(body)
        if request.stream:
            raise _Refused("a batch line cannot stream: leave 'stream' out or false", param="stream")
        chat_request = await to_chat_request(request, self.images)
        parts = Parts(
            database=self.database,
            router=self.router,
            ledger=self.ledger,
            privacy=self.chat_engine.privacy,
            reservation_seconds=self.limits.reservation_seconds,
            injection=self.chat_engine.injection,
        )
        async with admission(parts, principal, self.seeds, self.limiter) as gate:
            sources = await documents.readable_sources(
                self.chat_engine.grounder,
                parts.database,
                principal,
                file_ids=request.file_ids,
                knowledge_base_ids=request.knowledge_base_ids,
            )
            admitted = await gate.admit(request.model, chat_request, sources=sources)
        return await gate.complete(admitted, sources=sources)

    async def _embeddings(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/embeddings` itself, in a unit of work of its own (its usage row commits with it)."""
        request = EmbeddingRequest.model_validate(body)
        async with self.database.session() as session:
            return await create_embeddings(
                request, principal, self.embedder, self.embedding_settings, session, self.ledger
            )


class _Refused(ParleyError):
    status, code = 400, "invalid_request_error"


def _error(request_id: str, status: int, message: str, param: str | None) -> LineAnswer:
    return LineAnswer(status, openai_error_body(status, message, param=param), request_id)
