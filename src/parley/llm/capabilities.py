"""What a request needs of a model beyond plain text, and the 400s for a model that cannot give it (README,
"Function calling and structured output"). The router asks `unfit` before it sends a request to a model or a
fallback."""

from __future__ import annotations

from collections.abc import Sequence

from parley.errors import BadRequest
from parley.llm.base import Capability, ChatRequest
from parley.llm.config import ModelConfig

# The request parameter a missing capability is named after in the 400.
_CAPABILITY_PARAMS: dict[Capability, str] = {
    "tools": "tools",
    "json_schema": "response_format",
    "vision": "messages",
    "logprobs": "logprobs",
}


class ModelRefusesOption(BadRequest):
    """The model's provider has no such sampling parameter (Anthropic and Bedrock: `seed`, penalties,
    `logit_bias`): a 400 naming it rather than an answer that silently ignored it."""

    def __init__(self, model: str, option: str) -> None:
        super().__init__(f"model '{model}' does not support the parameter '{option}'", param=option)


def unfit(config: ModelConfig, request: ChatRequest) -> BadRequest | None:
    """Why the model of `config` cannot answer `request` as asked, or None when it can."""
    missing = config.lacks(request.needs())
    if missing:
        return ModelLacksCapability(config.name, missing)
    refused = config.refuses(request.sampling_options())
    if refused:
        return ModelRefusesOption(config.name, refused[0])
    if request.parallel_tool_calls is False and config.provider in _NO_SERIAL_TOOL_CALLS:
        return ModelRefusesOption(config.name, "parallel_tool_calls")
    return None


# Providers that cannot be told to call one tool at a time (`parallel_tool_calls: false`): Bedrock Converse has no
# such setting. (OpenAI-compatible servers take the parameter, Anthropic maps it to `disable_parallel_tool_use`,
# llama.cpp's chat endpoint takes it, the scripted model honours it.)
_NO_SERIAL_TOOL_CALLS = frozenset({"bedrock"})


class ModelLacksCapability(BadRequest):
    """The model asked for cannot do what the request needs (tools, a JSON schema, images, logprobs): a 400
    naming the capability, never a silent drop of the part it cannot do."""

    def __init__(self, model: str, missing: Sequence[Capability]) -> None:
        names = ", ".join(missing)
        super().__init__(
            f"model '{model}' does not support {names} (its catalogue entry's capabilities); "
            "see GET /v1/models for what each model supports",
            param=_CAPABILITY_PARAMS[missing[0]],
            capability=missing[0],
        )
