"""The base of every request body: unknown fields are refused, and so are NUL characters, which PostgreSQL
cannot store in text (a clear 422 instead of a database error)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def _reject_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)
    return value


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _reject_nul(value)


def clean_name(value: str | None) -> str | None:
    """A display name as people mean it: runs of whitespace become one space, ends trimmed; blank is refused.
    For `field_validator("name")(clean_name)` on request bodies."""
    if value is None:
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("name must not be blank")
    return cleaned
