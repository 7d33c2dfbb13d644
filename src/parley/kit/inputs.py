"""The base of every request body: unknown fields are refused, and so are NUL characters, which PostgreSQL
cannot store in text (a clear 422 instead of a database error)."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError


def _reject_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)
    return value


# Beyond this many unknown fields a body is refused with one error instead of one per field.
_UNKNOWN_FIELDS_LISTED = 20


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _not_too_many_unknown_fields(cls, data: Any) -> Any:
        # `extra="forbid"` makes an error per unknown key, and describing 300,000 of them held the event loop
        # for seconds; a set difference (in C) finds them, and past a few they are one error.
        if isinstance(data, dict) and len(data) > _UNKNOWN_FIELDS_LISTED:
            unknown = data.keys() - _accepted_keys(cls)
            if len(unknown) > _UNKNOWN_FIELDS_LISTED:
                examples = ", ".join(sorted(str(key)[:50] for key in itertools.islice(unknown, 5)))
                raise PydanticCustomError(
                    "extra_forbidden",
                    "{count} unknown fields (such as {examples})",
                    {"count": len(unknown), "examples": examples},
                )
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _reject_nul(value)


def _accepted_keys(model: type[BaseModel]) -> set[str]:
    keys = set(model.model_fields)
    keys.update(field.alias for field in model.model_fields.values() if field.alias)
    return keys


def clean_name(value: str | None) -> str | None:
    """A display name as people mean it: runs of whitespace become one space, ends trimmed; blank is refused.
    For `field_validator("name")(clean_name)` on request bodies."""
    if value is None:
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("name must not be blank")
    return cleaned
