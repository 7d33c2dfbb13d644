"""The Batch API's objects in OpenAI's shape (`file`, `batch`, cursor lists), and the ids clients see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.models import Batch, BatchFile

FILE_PREFIX = "file-"
BATCH_PREFIX = "batch_"
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
COMPLETION_WINDOWS = ("24h",)
# A batch still running (or waiting to); every other status is final.
ACTIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


class BatchCreate(BaseModel):
    """POST /v1/batches."""

    model_config = ConfigDict(extra="ignore")

    input_file_id: str
    endpoint: str
    completion_window: str
    # OpenAI's metadata: up to 16 pairs, keys up to 64 characters, values up to 512.
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    output_expires_after: dict[str, Any] | None = None


FilePurpose = Literal["batch", "batch_output"]


def file_id(row_id: uuid.UUID) -> str:
    return f"{FILE_PREFIX}{row_id.hex}"


def batch_id(row_id: uuid.UUID) -> str:
    return f"{BATCH_PREFIX}{row_id.hex}"


def parse_id(public: str, prefix: str) -> uuid.UUID | None:
    """The row id behind `file-…`/`batch_…`; None for anything else (answered as not found)."""
    if not public.startswith(prefix):
        return None
    try:
        return uuid.UUID(hex=public[len(prefix) :])
    except ValueError:
        return None


def _seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def file_object(row: BatchFile, filename: str) -> dict[str, Any]:
    return {
        "id": file_id(row.id),
        "object": "file",
        "bytes": row.size_bytes,
        "created_at": _seconds(row.created_at),
        "expires_at": None,
        "filename": filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
    }


def batch_object(row: Batch, metadata: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": batch_id(row.id),
        "object": "batch",
        "endpoint": row.endpoint,
        "errors": {"object": "list", "data": row.errors} if row.errors else None,
        "input_file_id": file_id(row.input_file_id) if row.input_file_id is not None else "",
        "completion_window": row.completion_window,
        "status": row.status,
        "output_file_id": file_id(row.output_file_id) if row.output_file_id is not None else None,
        "error_file_id": file_id(row.error_file_id) if row.error_file_id is not None else None,
        "created_at": _seconds(row.created_at),
        "in_progress_at": _seconds(row.in_progress_at),
        "expires_at": _seconds(row.expires_at),
        "finalizing_at": _seconds(row.finalizing_at),
        "completed_at": _seconds(row.completed_at),
        "failed_at": _seconds(row.failed_at),
        "expired_at": _seconds(row.expired_at),
        "cancelling_at": _seconds(row.cancelling_at),
        "cancelled_at": _seconds(row.cancelled_at),
        "request_counts": {
            "total": row.total_lines,
            "completed": row.completed_lines,
            "failed": row.failed_lines,
        },
        "usage": {
            "input_tokens": row.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": row.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": row.prompt_tokens + row.completion_tokens,
        },
        "metadata": metadata,
    }


def cursor_list(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
