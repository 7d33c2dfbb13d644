"""Request bodies of `/v1/responses` (OpenAI's Responses API).

What Parley does with each parameter (README, "Responses API"):
- honoured: `model`, `input` (a string, or items: messages with `input_text` / `output_text` parts and, in user
  messages, `input_image` parts by URL; `function_call` and `function_call_output`), `instructions`, `tools`
  (function tools), `tool_choice`, `parallel_tool_calls`, `text.format` (`text`, `json_object`, `json_schema`),
  `temperature`, `top_p`, `max_output_tokens`, `store`, `previous_response_id`, `metadata`, `stream`;
- accepted and not acted on: `user`, `safety_identifier`, `prompt_cache_key`, `service_tier`, `reasoning`,
  `text.verbosity`, `truncation: "disabled"`, `stream_options`;
- refused with a 400 naming them: built-in tools (`web_search`, `file_search`, `code_interpreter`…), images by
  `file_id` and files in the input, other item types (`reasoning`, `item_reference`…), `background`,
  `conversation`, `include`, `prompt`, `max_tool_calls`, `top_logprobs`, `truncation: "auto"`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_NAME = r"^[A-Za-z0-9_-]{1,64}$"
# Items of one request at most (as many messages as /v1/chat/completions takes).
MAX_INPUT_ITEMS = 10_000
# Refused when set (see the module's docstring): declared so that they are not silently ignored.
REFUSED_PARAMETERS = ("background", "conversation", "include", "prompt", "max_tool_calls", "top_logprobs")


class FunctionToolIn(BaseModel):
    """A tool, in the Responses API's flat shape (`{"type": "function", "name": …}`); any other `type` is a
    built-in tool Parley does not run, refused by name."""

    model_config = ConfigDict(extra="ignore")

    type: str
    name: str | None = Field(default=None, pattern=_NAME)
    description: str | None = Field(default=None, max_length=100_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedToolChoiceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    name: str | None = None


class TextFormatIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["text", "json_object", "json_schema"]
    name: str = Field(default="response", pattern=_NAME)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfigIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: TextFormatIn | None = None
    verbosity: str | None = None


class ResponseCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=100)
    # A string (one user message) or a list of items, each checked where it is translated (`translate`), so that
    # an item type Parley does not take is a 400 naming it, not a validation error about a union.
    input: str | list[dict[str, Any]]
    instructions: str | None = Field(default=None, max_length=1_000_000)
    tools: list[FunctionToolIn] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoiceIn | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfigIn | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    store: bool = True
    previous_response_id: str | None = Field(default=None, max_length=100)
    # OpenAI's limits: 16 pairs, keys of 64 characters, values of 512.
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    stream: bool = False
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    conversation: Any = None
    include: list[str] | None = None
    prompt: Any = None
    max_tool_calls: int | None = None
    top_logprobs: int | None = None
