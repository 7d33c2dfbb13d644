from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.kit.inputs import Input


class ExportRead(BaseModel):
    """A data export: queued, running, ready (downloadable until `expires_at`), failed or expired."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: Literal["queued", "running", "ready", "failed", "expired"]
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    size_bytes: int | None
    error: str | None
    download_url: str | None = Field(default=None, description="Where to fetch the zip while it is ready")


class AccountDeletion(Input):
    """Confirms deleting one's own account: the current password (accounts that sign in only through single
    sign-on leave it out and must have signed in within the last few minutes instead)."""

    password: str | None = Field(default=None, min_length=1, max_length=256)


class LegalHoldUpdate(Input):
    """Set (`hold: true`) or lift a legal hold: while set, retention deletes nothing of the user's and the account
    cannot be erased."""

    hold: bool
    reason: str | None = Field(default=None, max_length=500, description="A note for other admins")
