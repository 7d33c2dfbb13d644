"""SCIM request bodies as Parley reads them: a User, a Group, a PatchOp.

Attribute names are case-insensitive (RFC 7643, section 2.1). Every attribute of the core User schema (and the
enterprise extension) that IdPs send is accepted, and those Parley does not keep are left aside; an attribute no
schema defines is a 400 `invalidSyntax`, before anything is changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scim2_models.path import PathNode

from parley.scim.discovery import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA
from parley.scim.errors import invalid

COMMON_ATTRIBUTES = frozenset({"schemas", "id", "externalid", "meta"})
USER_ATTRIBUTES = frozenset(
    {
        "username",
        "name",
        "displayname",
        "nickname",
        "profileurl",
        "title",
        "usertype",
        "preferredlanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phonenumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509certificates",
    }
)
GROUP_ATTRIBUTES = frozenset({"displayname", "members"})
EXTENSIONS = frozenset({ENTERPRISE_USER_SCHEMA.lower()})
_MAX_EMAIL, _MAX_NAME, _MAX_GROUP_NAME, _MAX_EXTERNAL_ID = 320, 200, 100, 255


@dataclass
class UserFields:
    """What Parley keeps of a SCIM User. `active` None: not given (kept as it is)."""

    user_name: str
    display_name: str | None = None
    active: bool | None = None
    external_id: str | None = None


@dataclass
class GroupFields:
    display_name: str
    external_id: str | None = None
    # Member ids as sent (checked to be Parley users by the service), in order, without repeats.
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PatchOperation:
    op: str  # add | remove | replace
    path: PathNode | None
    path_text: str
    value: Any
    has_value: bool


def lower_keys(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"{what} must be a JSON object", "invalidSyntax")
    return {str(key).lower(): value for key, value in body.items()}


def text(value: Any, name: str, *, max_length: int, required: bool = False) -> str | None:
    """A string attribute: trimmed, bounded, no NUL; null or "" is none (refused when required)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise invalid(f"{name} is required", "invalidValue")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string", "invalidValue")
    value = value.strip()
    if len(value) > max_length or "\x00" in value:
        raise invalid(f"{name} must be at most {max_length} characters, without NUL", "invalidValue")
    return str(value)


def boolean(value: Any, name: str) -> bool:
    """A boolean; "True"/"False" strings as Microsoft Entra ID sends them are read too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(f"{name} must be true or false", "invalidValue")


def _check_schemas(attributes: dict[str, Any], schema: str) -> None:
    schemas = attributes.get("schemas")
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(item, str) for item in schemas):
        raise invalid("schemas must be a list of schema URIs", "invalidSyntax")
    known = {schema.lower(), *(EXTENSIONS if schema == USER_SCHEMA else ())}
    if unknown := [item for item in schemas if item.lower() not in known]:
        raise invalid(f"unknown schema: {unknown[0]}", "invalidSyntax")


def _refuse_unknown(attributes: dict[str, Any], allowed: frozenset[str], original: dict[str, Any]) -> None:
    for key in attributes:
        if key not in allowed:
            name = next(k for k in original if str(k).lower() == key)
            raise invalid(f"unknown attribute: {name}", "invalidSyntax")


def full_name(display_name: Any, name: Any) -> str | None:
    """The name Parley shows: displayName, else name.formatted, else the given and family names."""
    shown = text(display_name, "displayName", max_length=_MAX_NAME)
    if shown or name is None:
        return shown
    parts = lower_keys(name, "name")
    formatted = text(parts.get("formatted"), "name.formatted", max_length=_MAX_NAME)
    if formatted:
        return formatted
    given = text(parts.get("givenname"), "name.givenName", max_length=_MAX_NAME)
    family = text(parts.get("familyname"), "name.familyName", max_length=_MAX_NAME)
    joined = " ".join(part for part in (given, family) if part)
    return text(joined, "name", max_length=_MAX_NAME)


def user_name(value: Any) -> str:
    name = text(value, "userName", max_length=_MAX_EMAIL, required=True)
    assert name is not None
    if any(character.isspace() for character in name):
        raise invalid("userName must not contain spaces", "invalidValue")
    return name


def external_id(value: Any) -> str | None:
    return text(value, "externalId", max_length=_MAX_EXTERNAL_ID)


def group_name(value: Any) -> str:
    name = text(value, "displayName", max_length=_MAX_GROUP_NAME, required=True)
    assert name is not None
    return name


def parse_user(body: Any) -> UserFields:
    original = body if isinstance(body, dict) else {}
    attributes = lower_keys(body, "a User")
    _check_schemas(attributes, USER_SCHEMA)
    _refuse_unknown(attributes, COMMON_ATTRIBUTES | USER_ATTRIBUTES | EXTENSIONS, original)
    for extension in EXTENSIONS & attributes.keys():
        lower_keys(attributes[extension], extension)
    active = attributes.get("active")
    return UserFields(
        user_name=user_name(attributes.get("username")),
        display_name=full_name(attributes.get("displayname"), attributes.get("name")),
        active=None if active is None else boolean(active, "active"),
        external_id=external_id(attributes.get("externalid")),
    )


def member_ids(value: Any, name: str = "members") -> list[str]:
    """The ids of `[{"value": id, ...}, ...]` (a single object is read as a list of one)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise invalid(f'{name} must be a list of {{"value": id}} objects', "invalidValue")
    ids: list[str] = []
    for item in value:
        member = lower_keys(item, f"a member of {name}")
        member_id = member.get("value")
        if not isinstance(member_id, str) or not member_id.strip():
            raise invalid(f"each member of {name} needs a value (the user's id)", "invalidValue")
        if member_id.strip() not in ids:
            ids.append(member_id.strip())
    return ids


def parse_group(body: Any) -> GroupFields:
    original = body if isinstance(body, dict) else {}
    attributes = lower_keys(body, "a Group")
    _check_schemas(attributes, GROUP_SCHEMA)
    _refuse_unknown(attributes, COMMON_ATTRIBUTES | GROUP_ATTRIBUTES, original)
    members = attributes.get("members")
    return GroupFields(
        display_name=group_name(attributes.get("displayname")),
        external_id=external_id(attributes.get("externalid")),
        members=[] if members is None else member_ids(members),
    )


def parse_path(path: str) -> PathNode:
    # scim2_models (with its lark grammar) is imported by the first SCIM request that needs it, not by every
    # Parley process at start-up (README, "Several processes").
    from scim2_models import Path
    from scim2_models.exceptions import SCIMException

    try:
        node = Path(path).ast
    except (SCIMException, ValueError) as exc:
        raise invalid(f"path {path!r} does not parse: {exc}", "invalidPath") from exc
    if node is None:
        raise invalid("path is empty", "invalidPath")
    return node


def parse_patch(body: Any) -> list[PatchOperation]:
    message = lower_keys(body, "a PatchOp")
    schemas = message.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or PATCH_OP_SCHEMA not in schemas):
        raise invalid(f"schemas must be [{PATCH_OP_SCHEMA!r}]", "invalidSyntax")
    if unknown := message.keys() - {"schemas", "operations"}:
        raise invalid(f"unknown member of a PatchOp: {sorted(unknown)[0]}", "invalidSyntax")
    raw = message.get("operations")
    if not isinstance(raw, list) or not raw:
        raise invalid("Operations must be a non-empty list", "invalidSyntax")
    if len(raw) > 1000:
        raise invalid("at most 1000 operations in one PATCH", "invalidSyntax")
    operations = []
    for item in raw:
        operation = lower_keys(item, "an operation")
        op = operation.get("op")
        if not isinstance(op, str) or op.lower() not in ("add", "remove", "replace"):
            raise invalid(f"op must be add, remove or replace, not {op!r}", "invalidSyntax")
        path_text = operation.get("path")
        if path_text is not None and not isinstance(path_text, str):
            raise invalid("path must be a string", "invalidPath")
        if path_text is not None and not path_text.strip():
            path_text = None
        if path_text is None and op.lower() == "remove":
            raise invalid("a remove operation needs a path", "noTarget")
        if path_text is None and not isinstance(operation.get("value"), dict):
            raise invalid(f"an {op} operation without a path needs an object value", "invalidValue")
        operations.append(
            PatchOperation(
                op=op.lower(),
                path=None if path_text is None else parse_path(path_text),
                path_text=path_text or "",
                value=operation.get("value"),
                has_value="value" in operation,
            )
        )
    return operations
