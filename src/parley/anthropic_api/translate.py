"""A Messages request as Parley's `ChatRequest`: the system prompt first, each user turn's `tool_result` blocks
as tool messages (in order, before the turn's text), each assistant turn's `tool_use` blocks as its tool calls.
What Parley cannot honour is refused with a 400 naming where it is (`schemas`' docstring lists it)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from parley.anthropic_api.schemas import (
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    MessageParam,
    MessageRequest,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from parley.errors import BadRequest
from parley.images.loader import ImageLoader, ImageRefused
from parley.llm.base import (
    ChatMessage,
    ChatRequest,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
)

# Text blocks of one turn are read as one text; a line break keeps two blocks' words apart.
BLOCK_SEPARATOR = "\n"
# How a failed tool's result reaches the model (Anthropic tells its models with `is_error`; Parley's tool
# messages have no such flag).
TOOL_ERROR_PREFIX = "Error: "
_EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}
# `adaptive`: the model decides whether to think, and Parley's models answer without; `disabled`: no thinking.
_THINKING_ACCEPTED = frozenset({"adaptive", "disabled"})


async def to_chat_request(body: CountTokensRequest, images: ImageLoader) -> ChatRequest:
    """The request to route; `body` may be a token count's (no generation options). Its `image` blocks are read
    by `images` (a `url` source fetched), each failure a 400 naming the block."""
    if body.thinking is not None and body.thinking.get("type") not in _THINKING_ACCEPTED:
        raise BadRequest(
            f"thinking: '{body.thinking.get('type')}' thinking is not supported by Parley's models yet "
            "(send 'adaptive' or 'disabled', or leave thinking out)"
        )
    tools = tuple(
        _tool(index, tool.name, tool.description, tool.input_schema, tool.type)
        for index, tool in enumerate(body.tools or ())
    )
    tool_choice, parallel = _tool_choice(body, tools)
    messages: list[ChatMessage] = []
    if body.system is not None:
        system = body.system if isinstance(body.system, str) else BLOCK_SEPARATOR.join(b.text for b in body.system)
        if system:
            messages.append(ChatMessage("system", system))
    shown = sum(
        1 for m in body.messages if not isinstance(m.content, str) for b in m.content if isinstance(b, ImageBlock)
    )
    if shown > images.settings.max_per_request:
        raise BadRequest(
            f"messages: at most {images.settings.max_per_request} images per request (images.max_per_request)"
        )
    named = [
        str(b.source.get("url"))
        for m in body.messages
        if not isinstance(m.content, str)
        for b in m.content
        if isinstance(b, ImageBlock) and b.source and b.source.get("type") == "url"
    ]
    async with images.fetching(named) as loader:
        for index, message in enumerate(body.messages):
            messages.extend(await _messages(index, message, loader))
    output = body.output_config.format if body.output_config is not None else None
    response_format = ResponseFormat("json_schema", schema=output.json_schema) if output is not None else None
    params = GenerationParams(response_format=response_format)
    if isinstance(body, MessageRequest):
        if body.top_k is not None:
            raise BadRequest("top_k: not supported by Parley's models; use temperature or top_p")
        params = GenerationParams(
            temperature=body.temperature,
            top_p=body.top_p,
            max_tokens=body.max_tokens,
            stop=tuple(body.stop_sequences or ()),
            response_format=response_format,
        )
    return ChatRequest(
        messages=messages,
        params=params,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel,
    )


def _tool(index: int, name: str, description: str | None, schema: dict[str, object] | None, kind: str | None) -> Tool:
    if kind not in (None, "custom"):
        raise BadRequest(
            f"tools.{index}: server tools ('{kind}') are not supported by Parley; describe the tool with "
            "name, description and input_schema"
        )
    if schema is None:
        raise BadRequest(f"tools.{index}.input_schema: Field required")
    return Tool(name=name, description=description, parameters=schema or _EMPTY_OBJECT_SCHEMA)


def _tool_choice(body: CountTokensRequest, tools: Sequence[Tool]) -> tuple[ToolChoice | None, bool | None]:
    choice = body.tool_choice
    if choice is None:
        return None, None
    parallel = False if choice.disable_parallel_tool_use else None
    if choice.type == "tool":
        if not choice.name:
            raise BadRequest("tool_choice.name: Field required when tool_choice.type is 'tool'")
        if choice.name not in {tool.name for tool in tools}:
            raise BadRequest(f"tool_choice.name: '{choice.name}' is not among the tools")
        return choice.name, parallel
    if choice.type == "any":
        if not tools:
            raise BadRequest("tool_choice: 'any' needs tools")
        return "required", parallel
    return choice.type, parallel


async def _messages(index: int, message: MessageParam, loader: ImageLoader) -> list[ChatMessage]:
    """One Anthropic turn as Parley messages: a user turn's tool results become tool messages."""
    if isinstance(message.content, str):
        return [ChatMessage(message.role, message.content)]
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    images: list[ImagePart] = []
    for part, block in enumerate(message.content):
        where = f"messages.{index}.content.{part}"
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock) and message.role == "user":
            images.append(await _image(block, where, loader))
        elif isinstance(block, ImageBlock | DocumentBlock):
            _refuse_media(block, where)
        elif isinstance(block, ThinkingBlock):
            continue  # an earlier answer's reasoning: Anthropic drops it from the prompt too
        elif isinstance(block, ToolUseBlock):
            if message.role != "assistant":
                raise BadRequest(f"{where}: tool_use blocks belong in assistant messages")
            calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input, ensure_ascii=False)))
        else:
            if message.role != "user":
                raise BadRequest(f"{where}: tool_result blocks belong in user messages")
            results.append(ChatMessage("tool", _result_text(block, where), tool_call_id=block.tool_use_id))
    turn: list[ChatMessage] = list(results)
    if texts or calls or images or not results:
        turn.append(
            ChatMessage(message.role, BLOCK_SEPARATOR.join(texts), tool_calls=tuple(calls), images=tuple(images))
        )
    return turn


async def _image(block: ImageBlock, where: str, loader: ImageLoader) -> ImagePart:
    source = block.source or {}
    try:
        if source.get("type") == "base64":
            media_type, data = source.get("media_type"), source.get("data")
            if not isinstance(media_type, str) or not isinstance(data, str):
                raise BadRequest(f"{where}.source: a base64 source needs media_type and data")
            return loader.image(loader.decode_base64(media_type, data))
        if source.get("type") == "url":
            url = source.get("url")
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
                raise BadRequest(f"{where}.source.url: an http(s) URL is needed")
            return await loader.load(url)
    except ImageRefused as exc:
        raise BadRequest(f"{where}: {exc}") from exc
    raise BadRequest(f"{where}.source: image sources of type 'base64' or 'url' are supported")


def _result_text(block: ToolResultBlock, where: str) -> str:
    if block.content is None:
        text = ""
    elif isinstance(block.content, str):
        text = block.content
    else:
        parts = []
        for part, item in enumerate(block.content):
            if isinstance(item, TextBlock):
                parts.append(item.text)
            else:
                _refuse_media(item, f"{where}.content.{part}")
        text = BLOCK_SEPARATOR.join(parts)
    return TOOL_ERROR_PREFIX + text if block.is_error else text


def _refuse_media(block: ImageBlock | DocumentBlock, where: str) -> None:
    if isinstance(block, ImageBlock):
        raise BadRequest(f"{where}: images are accepted in user turns only (not in tool results or assistant turns)")
    raise BadRequest(f"{where}: documents are not supported yet (text, images, tool_use and tool_result only)")
