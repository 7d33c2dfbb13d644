from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

FileStatus = Literal["pending", "processing", "ready", "failed"]
# `image`: a PNG, JPEG, WebP or GIF for vision models (README, "Images"): stored, never read into chunks.
FileType = Literal["pdf", "docx", "xlsx", "pptx", "txt", "md", "csv", "html", "json", "code", "image"]


class UploadedFile(BaseModel):
    """A file as its owner sees it; `status` follows ingestion: pending → processing → ready | failed."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    file_type: FileType
    mime_type: str
    file_size: int
    sha256: str | None
    status: FileStatus
    status_reason: str | None
    conversation_id: uuid.UUID | None
    page_count: int | None
    chunk_count: int
    created_at: datetime
