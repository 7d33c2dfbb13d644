"""Parley's users and groups as SCIM resources (RFC 7643, sections 4.1 and 4.2), list responses, and the
`attributes` / `excludedAttributes` projection (RFC 7644, section 3.4.2.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parley.models import Group, User
from parley.scim.discovery import GROUP_SCHEMA, LIST_RESPONSE_SCHEMA, USER_SCHEMA

_ALWAYS = frozenset({"id", "schemas"})


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _meta(kind: str, created: datetime, modified: datetime, location: str) -> dict[str, Any]:
    return {"resourceType": kind, "created": _time(created), "lastModified": _time(modified), "location": location}


def user_resource(user: User, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": str(user.id),
        "userName": user.email,
        "active": user.is_active,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "meta": _meta("User", user.created_at, user.updated_at, f"{base_url}/Users/{user.id}"),
    }
    if user.external_id:
        resource["externalId"] = user.external_id
    if user.full_name:
        resource["displayName"] = user.full_name
    return resource


def group_resource(group: Group, members: list[User] | None, base_url: str) -> dict[str, Any]:
    """A group; `members` None leaves them out (asked with excludedAttributes=members, as IdPs do)."""
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.id),
        "displayName": group.name,
        "meta": _meta("Group", group.created_at, group.updated_at, f"{base_url}/Groups/{group.id}"),
    }
    if group.external_id:
        resource["externalId"] = group.external_id
    if members is not None:
        resource["members"] = [{"value": str(user.id), "$ref": f"{base_url}/Users/{user.id}"} for user in members]
    return resource


def names(parameter: str | None) -> frozenset[str]:
    """The top-level attributes a comma-separated `attributes` parameter names ("name.givenName" → "name";
    a schema URI prefix is dropped)."""
    if not parameter:
        return frozenset()
    wanted = set()
    for item in parameter.split(","):
        item = item.strip()
        if item.lower().startswith("urn:"):
            item = item.rsplit(":", 1)[-1]
        if item:
            wanted.add(item.split(".", 1)[0].lower())
    return frozenset(wanted)


def project(resource: dict[str, Any], attributes: frozenset[str], excluded: frozenset[str]) -> dict[str, Any]:
    if attributes:
        return {key: value for key, value in resource.items() if key in _ALWAYS or key.lower() in attributes}
    if excluded:
        return {key: value for key, value in resource.items() if key in _ALWAYS or key.lower() not in excluded}
    return resource


def list_response(resources: list[dict[str, Any]], *, total: int, start_index: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
