"""Request bodies of the Anthropic-compatible API (Messages and token counting).

What Parley does with each Messages parameter (README, "Anthropic-compatible API"):
- passed to the model: `system`, `messages` (text, `tool_use` and `tool_result` blocks), `tools`, `tool_choice`
  (`auto` / `any` / `tool` / `none`, `disable_parallel_tool_use`), `stop_sequences`, `temperature`, `top_p`,
  `max_tokens`, and structured output (`output_config.format`, a JSON schema, for models that support it);
- `thinking` of type `adaptive` (the model decides whether to think: Parley's models answer without) or
  `disabled` is accepted;
- `image` blocks of user turns with a `base64` or `url` source (README, "Images"), for models with `vision`;
- refused with a 400 naming it, because Parley cannot honour it yet: `document` blocks, images inside
  `tool_result` blocks, `top_k`,
  extended `thinking` (`enabled`, `between_tools`), server tools (`web_search_…`, `bash_…`: a tool with a `type`
  other than `custom`);
- deliberately ignored: `metadata` (Parley knows the caller from the key and keeps its own usage records),
  `cache_control` marks (Parley has no prompt cache), `output_config.effort`, `service_tier`, `speed`,
  `inference_geo` (hints with no counterpart in Parley's providers), earlier turns' `thinking` blocks (as
  Anthropic drops them), and any field Parley does not know, so that clients sending newer options work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_TOOL_NAME = r"^[A-Za-z0-9_-]{1,128}$"


class _Block(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextBlock(_Block):
    type: Literal["text"]
    text: str = Field(max_length=10_000_000)


class ImageBlock(_Block):
    type: Literal["image"]
    # `{"type": "base64", "media_type", "data"}` or `{"type": "url", "url"}` (README, "Images").
    source: dict[str, Any] | None = None


class DocumentBlock(_Block):
    type: Literal["document"]


class ThinkingBlock(_Block):
    type: Literal["thinking", "redacted_thinking"]


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(pattern=_TOOL_NAME)
    input: dict[str, Any]


ToolResultPart = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[ToolResultPart] | None = None
    is_error: bool | None = None


ContentBlock = Annotated[
    TextBlock | ImageBlock | DocumentBlock | ThinkingBlock | ToolUseBlock | ToolResultBlock,
    Field(discriminator="type"),
]


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=_TOOL_NAME)
    description: str | None = None
    # Absent from server tools, which are refused (`translate`) with a message naming them.
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class ToolChoiceParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["json_schema"]
    # `schema` would shadow a BaseModel attribute.
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: OutputFormat | None = None
    effort: str | None = None


class CountTokensRequest(BaseModel):
    """`POST /v1/messages/count_tokens`: what the prompt of a message would take."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None


class MessageRequest(CountTokensRequest):
    """`POST /v1/messages`."""

    # Required, as Anthropic requires it.
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = Field(default=None, max_length=16)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = None
    stream: bool = False
    metadata: dict[str, Any] | None = None
