"""The scripted model's JSON: a small, valid instance of a JSON Schema, so tests of tools and structured output
get arguments and answers their schemas (and the client libraries validating them) accept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MAX_DEPTH = 12


def sample_instance(schema: Mapping[str, Any]) -> Any:
    """A deterministic instance of `schema`: every property filled in (required or not), the first of each
    enum and union, one item per array, `$ref`s to `$defs`/`definitions` followed."""
    return _sample(schema, schema, "value", 0)


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if not part:
            continue
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _sample(schema: Mapping[str, Any], root: Mapping[str, Any], name: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _sample(_resolve(root, str(schema["$ref"])), root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for union in ("anyOf", "oneOf", "allOf"):
        options = schema.get(union)
        if options:
            # A nullable field's first option may be `null`: prefer a real value.
            chosen = next((o for o in options if isinstance(o, Mapping) and o.get("type") != "null"), options[0])
            return _sample(chosen, root, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {key: _sample(value, root, key, depth + 1) for key, value in properties.items()}
    if kind == "array":
        items = schema.get("items")
        count = max(1, int(schema.get("minItems", 1)))
        return [_sample(items, root, name, depth + 1) for _ in range(count)] if isinstance(items, Mapping) else []
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return name


def _string(schema: Mapping[str, Any], name: str) -> str:
    formats = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z", "email": "someone@example.com"}
    text = formats.get(str(schema.get("format")), f"{name} 1")
    minimum = int(schema.get("minLength", 0))
    return text.ljust(minimum, "x")
