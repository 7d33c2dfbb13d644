"""A Responses request as Parley's `ChatRequest`: its input items as chat messages (and back, for the stored
conversation), refusing with a 400 naming the parameter what Parley cannot honour rather than dropping it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

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
from parley.responses_api.schemas import MAX_INPUT_ITEMS, REFUSED_PARAMETERS, ResponseCreateRequest

_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})
_DETAILS = ("auto", "low", "high", "original")
_EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(body: ResponseCreateRequest) -> list[dict[str, Any]]:
    """The request's input as Responses items in their full shape (a string is one user message), each checked:
    an item or content part Parley does not take is a 400 naming it (`input.2.content.0`)."""
    if isinstance(body.input, str):
        return [_message_item("user", [{"type": "input_text", "text": body.input}])]
    if not body.input or len(body.input) > MAX_INPUT_ITEMS:
        raise BadRequest(f"input holds 1 to {MAX_INPUT_ITEMS} items", param="input")
    return [_checked_item(item, f"input.{index}") for index, item in enumerate(body.input)]


def _message_item(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id("msg"), "type": "message", "role": role, "status": "completed", "content": content}


def _text_of(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{param}' must be a string", param=param)
    return value


def _checked_item(item: dict[str, Any], param: str) -> dict[str, Any]:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise BadRequest(f"'{param}.role' must be one of user, assistant, system, developer", param=f"{param}.role")
        content = item.get("content")
        part_type = "output_text" if role == "assistant" else "input_text"
        if isinstance(content, str):
            parts = [{"type": part_type, "text": content}]
        elif isinstance(content, list):
            parts = []
            for index, part in enumerate(content):
                where = f"{param}.content.{index}"
                kind_of_part = part.get("type") if isinstance(part, dict) else None
                if kind_of_part == "input_image" and role == "user":
                    parts.append(_image_part(part, where))
                    continue
                if kind_of_part not in _TEXT_PARTS:
                    raise BadRequest(
                        f"content parts of type '{kind_of_part}' are not supported on /v1/responses (text only)",
                        param=where,
                    )
                text = part.get("text", part.get("refusal", ""))
                parts.append({"type": part_type, "text": _text_of(text, f"{where}.text")})
        else:
            raise BadRequest(f"'{param}.content' must be a string or a list of parts", param=f"{param}.content")
        return _message_item(role, parts)
    if kind == "function_call":
        return {
            "id": str(item.get("id") or item_id("fc")),
            "type": "function_call",
            "status": "completed",
            "call_id": _text_of(item.get("call_id"), f"{param}.call_id"),
            "name": _text_of(item.get("name"), f"{param}.name"),
            "arguments": _text_of(item.get("arguments", ""), f"{param}.arguments"),
        }
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            # Newer SDKs send the output as content parts: its text parts, as a message's.
            output = "\n".join(
                str(part.get("text", ""))
                for part in output
                if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
            )
        return {
            "id": str(item.get("id") or item_id("fco")),
            "type": "function_call_output",
            "status": "completed",
            "call_id": _text_of(item.get("call_id"), f"{param}.call_id"),
            "output": _text_of(output, f"{param}.output"),
        }
    raise BadRequest(f"input items of type '{kind}' are not supported on /v1/responses", param=f"{param}.type")


def _image_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """An `input_image` part as given (its URL is read with the others, `read_images`)."""
    if part.get("file_id") is not None:
        raise BadRequest("images by file_id are not supported on /v1/responses: send image_url", param=where)
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise BadRequest("an input_image part needs image_url (a data: URL or an http(s) URL)", param=where)
    detail = part.get("detail") or "auto"
    if detail not in _DETAILS:
        raise BadRequest("detail is one of auto, low, high, original", param=f"{where}.detail")
    return {"type": "input_image", "image_url": url, "detail": detail}


async def read_images(items: Sequence[dict[str, Any]], loader: ImageLoader) -> dict[str, ImagePart]:
    """Every `input_image` of `items` read (fetched, checked) once, by URL; each part's URL becomes the data URL of
    the bytes read, so a stored response replays the image it was asked about (an http URL may be gone or changed
    by the time a later response continues it). A refusal is a 400 naming the part (`input.0.content.1`)."""
    parts = [
        (f"input.{index}.content.{number}", part)
        for index, item in enumerate(items)
        if item["type"] == "message"
        for number, part in enumerate(item.get("content") or ())
        if part.get("type") == "input_image"
    ]
    if len(parts) > loader.settings.max_per_request:
        raise BadRequest(
            f"at most {loader.settings.max_per_request} images per request (images.max_per_request)", param="input"
        )
    read: dict[str, ImagePart] = {}
    async with loader.fetching(part["image_url"] for _, part in parts) as fetching:
        for where, part in parts:
            try:
                image = await fetching.load(part["image_url"], detail=part["detail"])
            except ImageRefused as exc:
                raise BadRequest(str(exc), param=where) from exc
            part["image_url"] = image.data_url()
            read[part["image_url"]] = image
    return read


def messages_of(items: Sequence[dict[str, Any]], images: dict[str, ImagePart] | None = None) -> list[ChatMessage]:
    """Items (input or output, checked or stored) as chat messages: a function call joins the assistant message
    before it (or opens one), its output is a `tool` message; `input_image` parts are the images `images` holds
    by (data) URL."""
    messages: list[ChatMessage] = []
    for item in items:
        kind = item["type"]
        if kind == "message":
            parts = item["content"]
            text = "\n".join(part.get("text", "") for part in parts if part.get("type") != "input_image")
            shown = tuple((images or {})[part["image_url"]] for part in parts if part.get("type") == "input_image")
            messages.append(ChatMessage(_ROLES[item["role"]], text, images=shown))
        elif kind == "function_call":
            call = ToolCall(id=item["call_id"], name=item["name"], arguments=item["arguments"])
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                messages[-1] = ChatMessage("assistant", last.content, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
        elif kind == "function_call_output":
            messages.append(ChatMessage("tool", item["output"], tool_call_id=item["call_id"]))
    return messages


def to_chat_request(
    body: ResponseCreateRequest,
    items: Sequence[dict[str, Any]],
    history: Sequence[ChatMessage] = (),
    images: dict[str, ImagePart] | None = None,
) -> ChatRequest:
    """The request for the model: the instructions (this request's only: a previous response's are not carried
    over, as OpenAI does), the earlier responses' input and output (`history`), then this input."""
    _refuse_unsupported(body)
    tools = tuple(_tool(tool.name, tool.description, tool.parameters, tool.strict) for tool in _function_tools(body))
    tool_choice = _tool_choice(body, tools)
    params = GenerationParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_output_tokens,
        response_format=_response_format(body),
    )
    instructions = [ChatMessage("system", body.instructions)] if body.instructions else []
    return ChatRequest(
        messages=[*instructions, *history, *messages_of(items, images)],
        params=params,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=body.parallel_tool_calls if tools else None,
    )


def _tool(name: str | None, description: str | None, parameters: dict[str, Any] | None, strict: bool | None) -> Tool:
    assert name is not None  # `_function_tools` checked it
    return Tool(name=name, description=description, parameters=parameters or _EMPTY_OBJECT_SCHEMA, strict=strict)


def _function_tools(body: ResponseCreateRequest) -> list[Any]:
    tools = body.tools or []
    for index, tool in enumerate(tools):
        if tool.type != "function":
            raise BadRequest(
                f"built-in tools such as '{tool.type}' are not supported on /v1/responses: send function tools",
                param=f"tools.{index}.type",
            )
        if not tool.name:
            raise BadRequest("a function tool needs a name", param=f"tools.{index}.name")
    return tools


def _tool_choice(body: ResponseCreateRequest, tools: tuple[Tool, ...]) -> ToolChoice | None:
    requested = body.tool_choice
    choice: ToolChoice | None
    if requested is None or isinstance(requested, str):
        choice = requested
    elif requested.type == "function" and requested.name:
        choice = requested.name
        if choice not in {tool.name for tool in tools}:
            raise BadRequest(f"tool_choice names '{choice}', which is not among the tools", param="tool_choice")
    else:
        raise BadRequest(f"tool_choice of type '{requested.type}' is not supported", param="tool_choice.type")
    if choice == "required" and not tools:
        raise BadRequest("tool_choice 'required' needs tools", param="tool_choice")
    return choice


def _response_format(body: ResponseCreateRequest) -> ResponseFormat | None:
    requested = body.text.format if body.text is not None else None
    if requested is None or requested.type == "text":
        return None
    if requested.type == "json_object":
        return ResponseFormat("json_object")
    if requested.json_schema is None:
        raise BadRequest("text.format of type json_schema needs a schema", param="text.format.schema")
    return ResponseFormat("json_schema", name=requested.name, schema=requested.json_schema, strict=requested.strict)


def _refuse_unsupported(body: ResponseCreateRequest) -> None:
    for name in REFUSED_PARAMETERS:
        if getattr(body, name) not in (None, []):
            raise BadRequest(f"the parameter '{name}' is not supported on /v1/responses", param=name)
    if body.truncation == "auto":
        raise BadRequest("truncation 'auto' is not supported: Parley never drops input silently", param="truncation")


def tools_body(body: ResponseCreateRequest) -> list[dict[str, Any]]:
    """The request's tools as the response object repeats them."""
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters or _EMPTY_OBJECT_SCHEMA,
            "strict": tool.strict if tool.strict is not None else True,
        }
        for tool in body.tools or ()
    ]


def tool_choice_body(body: ResponseCreateRequest) -> Any:
    choice = body.tool_choice
    if choice is None:
        return "auto"
    return choice if isinstance(choice, str) else {"type": "function", "name": choice.name}


def text_body(body: ResponseCreateRequest) -> dict[str, Any]:
    requested = body.text.format if body.text is not None else None
    if requested is None or requested.type != "json_schema":
        return {"format": {"type": requested.type if requested is not None else "text"}}
    return {
        "format": {
            "type": "json_schema",
            "name": requested.name,
            "description": requested.description,
            "schema": requested.json_schema,
            "strict": requested.strict,
        }
    }
