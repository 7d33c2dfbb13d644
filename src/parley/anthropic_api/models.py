"""`GET /v1/models` as Anthropic's clients read it (`client.models.list()` / `.retrieve(id)`).

The route is OpenAI's (`openai_api.endpoints`): a request carrying `anthropic-version`, which Anthropic's SDKs
always send and OpenAI's never do, gets this shape instead: `{type: "model", id, display_name, created_at, ...}`
items, paged with `limit`, `after_id` and `before_id` as Anthropic pages them (`has_more`, `first_id`,
`last_id`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from parley.errors import BadRequest
from parley.llm.config import ModelConfig

ANTHROPIC_VERSION_HEADER = "anthropic-version"
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
_AUTO_DISPLAY_NAME = "Auto (Parley picks the model)"


def is_anthropic_client(headers: Any) -> bool:
    return ANTHROPIC_VERSION_HEADER in headers


def model_info(config: ModelConfig | None, name: str, created: int) -> dict[str, Any]:
    """A model as Anthropic's `ModelInfo`; `config` None is Parley's router (`auto`). `created_at` is when this
    catalogue was loaded, as OpenAI's `created` is: Parley does not know when a model was released."""
    info: dict[str, Any] = {
        "type": "model",
        "id": name,
        "display_name": _AUTO_DISPLAY_NAME if config is None else config.display_name,
        "created_at": dt.datetime.fromtimestamp(created, dt.UTC).isoformat().replace("+00:00", "Z"),
        "lifecycle": "active",
    }
    if config is not None:
        info["max_input_tokens"] = config.context_window
        info["max_tokens"] = config.max_output_tokens
    return info


def model_page(
    models: Sequence[dict[str, Any]], *, limit: int, after_id: str | None, before_id: str | None
) -> dict[str, Any]:
    """One page of `models` (in the list's order): the `limit` after `after_id`, or the `limit` just before
    `before_id`. An id that is not in the list is a 400 naming the parameter."""
    ids = [model["id"] for model in models]
    start, end = 0, len(models)
    if after_id is not None:
        start = _position(ids, after_id, "after_id") + 1
    if before_id is not None:
        end = _position(ids, before_id, "before_id")
    if before_id is not None and after_id is None:
        start = max(start, end - limit)
    page = list(models[start : min(end, start + limit)])
    more = start > 0 if before_id is not None and after_id is None else start + len(page) < end
    return {
        "data": page,
        "has_more": more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def _position(ids: list[str], model_id: str, param: str) -> int:
    try:
        return ids.index(model_id)
    except ValueError:
        raise BadRequest(f"{param}: '{model_id}' is not a model of this list") from None
