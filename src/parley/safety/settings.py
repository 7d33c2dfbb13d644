"""`PARLEY_SAFETY__…`: how the prompt-injection check of users' messages behaves (README, "Prompt injection")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SafetySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The prompt-injection check of users' messages: a detector that fails (or takes longer than
    # `timeout_seconds`) is logged and counted; the message is then answered (false: fail open) or, under a
    # plan's `block` policy, refused (true: fail closed).
    fail_closed: bool = False
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
