"""A Chat Completions request as Parley's `ChatRequest`, refusing with a 400 naming the parameter what Parley
cannot honour rather than dropping it (the list is in `schemas`' docstring and the README)."""

from __future__ import annotations

from parley.errors import BadRequest
from parley.images.loader import ImageLoader, ImageRefused
from parley.llm.base import (
    ChatMessage,
    ChatRequest,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
)
from parley.openai_api.schemas import ChatCompletionMessage, ChatCompletionRequest

_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}


async def to_chat_request(body: ChatCompletionRequest, images: ImageLoader) -> ChatRequest:
    """The request to route; its images read (data URLs decoded, URLs fetched) by `images`, each failure a 400
    naming the part."""
    _refuse_unsupported(body, max_images=images.settings.max_per_request)
    tools = tuple(
        Tool(
            name=tool.function.name,
            description=tool.function.description,
            parameters=tool.function.parameters or _EMPTY_OBJECT_SCHEMA,
            strict=tool.function.strict,
        )
        for tool in body.tools or ()
    )
    tool_choice: ToolChoice | None = None
    if isinstance(body.tool_choice, str):
        tool_choice = body.tool_choice
    elif body.tool_choice is not None:
        tool_choice = body.tool_choice.function.name
        if tool_choice not in {tool.name for tool in tools}:
            raise BadRequest(f"tool_choice names '{tool_choice}', which is not among the tools", param="tool_choice")
    if tool_choice == "required" and not tools:
        raise BadRequest("tool_choice 'required' needs tools", param="tool_choice")
    params = GenerationParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        stop=body.stop_sequences(),
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logit_bias=body.logit_bias or None,
        response_format=_response_format(body),
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs if body.logprobs else None,
    )
    named = [
        part.image_url.url
        for m in body.messages
        if isinstance(m.content, list)
        for part in m.content
        if part.type == "image_url" and part.image_url is not None
    ]
    async with images.fetching(named) as loader:
        messages = [_message(m, await _images(index, m, loader)) for index, m in enumerate(body.messages)]
    return ChatRequest(
        messages=messages,
        params=params,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=body.parallel_tool_calls if tools else None,
        choices=body.n or 1,
    )


def _message(message: ChatCompletionMessage, images: tuple[ImagePart, ...]) -> ChatMessage:
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or ()
    )
    return ChatMessage(
        _ROLES[message.role], message.text(), tool_calls=calls, tool_call_id=message.tool_call_id, images=images
    )


async def _images(index: int, message: ChatCompletionMessage, loader: ImageLoader) -> tuple[ImagePart, ...]:
    """The message's `image_url` parts, read in order (their fetches already run side by side: `fetching`)."""
    if not isinstance(message.content, list):
        return ()
    read: list[ImagePart] = []
    for part, content in enumerate(message.content):
        if content.type != "image_url":
            continue
        where = f"messages.{index}.content.{part}"
        if message.role != "user":
            raise BadRequest("images are accepted in user messages only", param=where)
        if content.image_url is None:
            raise BadRequest("an image_url part needs image_url.url", param=where)
        try:
            read.append(await loader.load(content.image_url.url, detail=content.image_url.detail))
        except ImageRefused as exc:
            raise BadRequest(str(exc), param=where) from exc
    return tuple(read)


def _response_format(body: ChatCompletionRequest) -> ResponseFormat | None:
    requested = body.response_format
    if requested is None or requested.type == "text":
        return None
    if requested.type == "json_object":
        return ResponseFormat("json_object")
    spec = requested.json_schema
    assert spec is not None  # the schema's validator insists on it
    return ResponseFormat("json_schema", name=spec.name, schema=spec.json_schema, strict=spec.strict)


def _refuse_unsupported(body: ChatCompletionRequest, *, max_images: int) -> None:
    """A 400 naming the first parameter Parley cannot honour (never an answer that silently ignored it)."""
    if body.top_logprobs is not None and not body.logprobs:
        # As OpenAI answers: alternatives are only given beside the chosen tokens' own log probabilities.
        raise BadRequest("top_logprobs needs logprobs set to true", param="top_logprobs")
    if body.functions is not None or body.function_call is not None:
        raise BadRequest(
            "the legacy functions/function_call parameters are not supported: send tools and tool_choice",
            param="functions" if body.functions is not None else "function_call",
        )
    if body.audio is not None or (body.modalities is not None and set(body.modalities) - {"text"}):
        raise BadRequest("only text output is supported", param="audio" if body.audio is not None else "modalities")
    for name in ("prediction", "web_search_options"):
        if getattr(body, name) is not None:
            raise BadRequest(f"the parameter '{name}' is not supported", param=name)
    images = sum(
        1 for m in body.messages if isinstance(m.content, list) for part in m.content if part.type == "image_url"
    )
    if images > max_images:
        raise BadRequest(f"at most {max_images} images per request (images.max_per_request)", param="messages")
    for index, message in enumerate(body.messages):
        unsupported = message.unsupported_part()
        if unsupported is not None:
            part, kind = unsupported
            raise BadRequest(
                f"content parts of type '{kind}' are not supported on /v1/chat/completions yet (text and images only)",
                param=f"messages.{index}.content.{part}",
            )
