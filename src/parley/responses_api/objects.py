"""A response as OpenAI's Responses API words it (`object: "response"`), and the record Parley stores of it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from parley.errors import NotFound
from parley.llm.base import Usage
from parley.responses_api.schemas import ResponseCreateRequest
from parley.responses_api.translate import item_id, text_body, tool_choice_body, tools_body

_PREFIX = "resp_"
# Parley's finish reasons that leave a response incomplete, with OpenAI's reason.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(record_id: uuid.UUID) -> str:
    return _PREFIX + record_id.hex


def record_id_of(value: str, *, param: str | None = None) -> uuid.UUID:
    """The stored record behind a `resp_…` id; anything else is not found (as a missing response)."""
    try:
        if not value.startswith(_PREFIX):
            raise ValueError(value)
        return uuid.UUID(hex=value[len(_PREFIX) :])
    except ValueError:
        raise NotFound(f"No response found with id '{value}'.", param=param) from None


def settings_of(body: ResponseCreateRequest) -> dict[str, Any]:
    """What the response object repeats of its request."""
    return {
        "instructions": body.instructions,
        "tools": tools_body(body),
        "tool_choice": tool_choice_body(body),
        "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
        "text": text_body(body),
        "temperature": body.temperature if body.temperature is not None else 1.0,
        "top_p": body.top_p if body.top_p is not None else 1.0,
        "max_output_tokens": body.max_output_tokens,
        "previous_response_id": body.previous_response_id,
        "metadata": body.metadata or {},
        "store": body.store,
    }


def message_item(text: str, *, item: str | None = None, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item or item_id("msg"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text(text)],
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(call_id: str, name: str, arguments: str, *, item: str | None = None) -> dict[str, Any]:
    return {
        "id": item or item_id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def usage_body(usage: Usage) -> dict[str, Any]:
    # Parley has no prompt cache and its models report no reasoning tokens apart.
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


@dataclass
class ResponseRecord:
    """One response: what it was asked (`settings`, `input`) and what it answered. Stored as JSON, sealed."""

    id: uuid.UUID
    model: str
    settings: dict[str, Any]
    input: list[dict[str, Any]]
    created_at: int = field(default_factory=lambda: int(time.time()))
    output: list[dict[str, Any]] = field(default_factory=list)
    status: str = "in_progress"
    incomplete_reason: str | None = None
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    # Beside OpenAI's fields: why a `max_output_tokens` stop came early (the caller's quota).
    limit: dict[str, str] | None = None

    def finish(self, reason: str, usage: Usage, *, model: str) -> None:
        self.model = model
        self.usage = usage
        self.incomplete_reason = _INCOMPLETE.get(reason)
        self.status = "incomplete" if self.incomplete_reason else "completed"

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.error = {"code": "server_error", "message": message}

    def body(self) -> dict[str, Any]:
        settings = self.settings
        body = {
            "id": response_id(self.id),
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "background": False,
            "error": self.error,
            "incomplete_details": {"reason": self.incomplete_reason} if self.incomplete_reason else None,
            "instructions": settings["instructions"],
            "max_output_tokens": settings["max_output_tokens"],
            "max_tool_calls": None,
            "metadata": settings["metadata"],
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": settings["parallel_tool_calls"],
            "previous_response_id": settings["previous_response_id"],
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": settings["store"],
            "temperature": settings["temperature"],
            "text": settings["text"],
            "tool_choice": settings["tool_choice"],
            "tools": settings["tools"],
            "top_logprobs": 0,
            "top_p": settings["top_p"],
            "truncation": "disabled",
            "usage": usage_body(self.usage) if self.usage is not None else None,
            "user": None,
        }
        if self.limit is not None:
            body["limit"] = self.limit
        return body

    def stored_text(self) -> str:
        return json.dumps(
            {
                "created_at": self.created_at,
                "settings": self.settings,
                "input": self.input,
                "output": self.output,
                "status": self.status,
                "incomplete_reason": self.incomplete_reason,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_stored(
        cls, record_id: uuid.UUID, text: str, *, model: str, prompt_tokens: int | None, completion_tokens: int | None
    ) -> ResponseRecord:
        stored = json.loads(text)
        return cls(
            id=record_id,
            model=model,
            settings=stored["settings"],
            input=stored["input"],
            created_at=stored["created_at"],
            output=stored["output"],
            status=stored["status"],
            incomplete_reason=stored["incomplete_reason"],
            usage=Usage(prompt_tokens or 0, completion_tokens or 0),
        )


def output_of(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The output items of a whole `chat.completion` (`openai_api.service.complete`, pseudonyms put back): its
    text as a message, then its calls."""
    message = completion["choices"][0]["message"]
    items: list[dict[str, Any]] = []
    if message.get("content"):
        items.append(message_item(message["content"]))
    for call in message.get("tool_calls") or ():
        items.append(function_call_item(call["id"], call["function"]["name"], call["function"]["arguments"]))
    return items
