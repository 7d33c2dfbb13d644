"""Request bodies of the OpenAI-compatible API.

What Parley does with each Chat Completions parameter (README, "Function calling and structured output"):
- passed to the model: `tools`, `tool_choice`, `parallel_tool_calls`, `response_format`, `seed`,
  `presence_penalty`, `frequency_penalty`, `logit_bias`, `logprobs` / `top_logprobs`, besides the sampling and
  length options; a model that cannot take one is refused with a 400 naming it (`llm.router.unfit`: Anthropic
  and Bedrock take no `seed`, penalties or `logit_bias`; a model whose capabilities lack `logprobs` takes no
  `logprobs`); `top_logprobs` without `logprobs: true` is a 400 naming it;
- `n` (1 to 8): each choice is a generation of its own, run concurrently (one provider call per choice, even
  to an OpenAI-compatible upstream), streamed interleaved with each chunk's choice `index`; `usage` sums them,
  the prompt counted once per choice;
- `image_url` parts of user messages (README, "Images"): data URLs or http(s) URLs, for models whose capabilities
  include `vision` (another model is a 400 naming `messages`);
- refused with a 400 naming the parameter, because Parley cannot honour it yet: other non-text content parts
  (audio, files), `audio` / `modalities` other than text, `prediction`, `web_search_options`, the legacy
  `functions` / `function_call` (send `tools`);
- deliberately ignored (`IGNORED_PARAMETERS`): `user`, `metadata`, `store`, `service_tier`, `safety_identifier`,
  `prompt_cache_key`, `reasoning_effort`, `verbosity`; and, as other compatible servers do, any option Parley
  does not know, so that clients sending vendor extensions work unchanged.

Parley's own extensions (README, "Documents over /v1"): `knowledge_base_ids` and `file_ids` ground the answer in
the caller's documents, as the web chat's `POST /api/v1/chat` does; the answer's citations come back beside
OpenAI's fields (`choices[0].message.citations`; streamed, a `choices[0].delta.citations` chunk before the last).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parley.images.formats import Detail

# Accepted and not acted on. `user` / `safety_identifier` / `metadata`: Parley knows the caller from the API key
# and keeps its own usage records; `store`: Parley never stores /v1 completions; `service_tier`,
# `prompt_cache_key`, `reasoning_effort`, `verbosity`: OpenAI-only hints with no counterpart in other providers.
IGNORED_PARAMETERS = (
    "user",
    "metadata",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "reasoning_effort",
    "verbosity",
)
# The text parts of a message's content array are joined with a line break, as vLLM and llama.cpp's server do
# (OpenAI's models read the parts as one text; a separator keeps two parts' words apart).
TEXT_PART_SEPARATOR = "\n"
_NAME = r"^[A-Za-z0-9_-]{1,64}$"
# As many as the web chat takes on one message.
MAX_FILE_IDS = 20
MAX_KNOWLEDGE_BASE_IDS = 10
# `n`: each choice is a generation of its own, counted against the caller's quotas; OpenAI allows 128, other
# compatible servers less.
MAX_CHOICES = 8


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1)
    detail: Detail = "auto"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=_NAME)
    arguments: str = Field(default="", max_length=1_000_000)


class ToolCallIn(BaseModel):
    """An assistant message's call, as a client sends it back with the tool's result."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatCompletionMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _tool_fields(self) -> ChatCompletionMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return TEXT_PART_SEPARATOR.join(part.text or "" for part in self.content if part.type == "text")

    def unsupported_part(self) -> tuple[int, str] | None:
        """The first content part that is neither text nor an image (audio, a file), with its index."""
        if isinstance(self.content, list):
            for index, part in enumerate(self.content):
                if part.type not in ("text", "refusal", "image_url"):
                    return index, part.type
        return None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=_NAME)
    description: str | None = Field(default=None, max_length=100_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=_NAME)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(default="response", pattern=_NAME)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormatIn:
        if self.type == "json_schema" and (self.json_schema is None or self.json_schema.json_schema is None):
            raise ValueError("response_format of type json_schema needs json_schema.schema")
        return self


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=100)
    messages: list[ChatCompletionMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: str | list[str] | None = None
    # Choices of one request: each is a generation of its own (README, "Several choices").
    n: int | None = Field(default=None, ge=1, le=MAX_CHOICES)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormatIn | None = None
    # Parley's extensions: the documents to answer from (each one the caller may read, else a 404 naming it).
    knowledge_base_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_KNOWLEDGE_BASE_IDS,
        description="Parley extension: knowledge bases to answer from; the answer carries `citations`",
    )
    file_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_FILE_IDS,
        description="Parley extension: files (yours or shared with you) to answer from; the answer carries `citations`",
    )
    # Refused when set (see the module's docstring): declared so that they are not silently ignored.
    functions: list[Any] | None = None
    function_call: Any = None
    audio: Any = None
    modalities: list[str] | None = None
    prediction: Any = None
    web_search_options: Any = None

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _biases(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for token, bias in (value or {}).items():
            if not token.isdigit() or not -100 <= bias <= 100:
                raise ValueError("logit_bias maps token ids to biases from -100 to 100")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
