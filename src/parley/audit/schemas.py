from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    actor_id: uuid.UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    created_at: datetime
    # The row's place in the hash chain and its links (README, "Audit trail"); null until its transaction commits.
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


class ChainProblem(BaseModel):
    """The first thing found wrong with the audit chain."""

    kind: Literal["edited", "deleted", "reordered", "unchained", "truncated", "rewritten", "checkpoint"]
    seq: int | None = Field(description="The chain position of the first bad row (null: a row outside the chain)")
    event_id: str | None = None
    message: str


class ChainVerification(BaseModel):
    """The outcome of walking the whole audit chain and its signed checkpoints."""

    status: Literal["verified", "broken"]
    summary: str
    rows: int = Field(description="Rows found intact, in chain order, before the first problem (all when verified)")
    head_seq: int
    checkpoints: int
    verified_checkpoint_seq: int | None = Field(description="The newest signed checkpoint the chain matches")
    verified_checkpoint_at: datetime | None
    problem: ChainProblem | None
