"""PATCH (RFC 7644, section 3.5.2) as Microsoft Entra ID and Okta send it, applied to what Parley keeps.

Both IdPs' forms are read: an operation with a path (`"path": "active"`, `"name.givenName"`,
`"members[value eq \"…\"]"`, an enterprise-extension attribute) and one without, whose value is an object of
attributes (Okta's `{"op": "replace", "value": {"active": false}}`); `op` in any case (Entra's "Replace"), and
booleans as strings ("False"). Operations apply in order to a copy; the service stores the result only when
every operation applied, so a PATCH that fails half-way changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    ValuePath,
)

from parley.scim.discovery import GROUP_SCHEMA, USER_SCHEMA
from parley.scim.errors import invalid
from parley.scim.schemas import (
    COMMON_ATTRIBUTES,
    EXTENSIONS,
    USER_ATTRIBUTES,
    GroupFields,
    PatchOperation,
    UserFields,
    boolean,
    external_id,
    full_name,
    group_name,
    lower_keys,
    member_ids,
    user_name,
)

# Attributes of the core User schema Parley accepts and does not keep (Entra and Okta send them).
_USER_IGNORED = USER_ATTRIBUTES - {"username", "displayname", "active", "name"}
_READ_ONLY = frozenset({"id", "meta", "schemas"})


def _attribute(path: object, schema: str) -> tuple[str, str | None] | None:
    """(attribute, sub-attribute) in lower case; None for an extension attribute (accepted, not kept)."""
    if not isinstance(path, AttrPath):
        raise invalid(f"path {path} is not supported", "invalidPath")
    if path.uri is not None:
        if path.uri.lower() in EXTENSIONS:
            return None
        if path.uri.lower() != schema.lower():
            raise invalid(f"unknown schema in path: {path.uri}", "invalidPath")
    return path.attr.lower(), path.sub_attr.lower() if path.sub_attr else None


class _UserPatch:
    def __init__(self, current: UserFields) -> None:
        self.fields = dataclasses.replace(current)
        # Name parts sent in this PATCH: they make the display name when no displayName is sent.
        self.name_parts: dict[str, Any] = {}
        self.display_name_sent = False

    def apply(self, operation: PatchOperation) -> None:
        if operation.path is None:
            for key, value in lower_keys(operation.value, "value").items():
                if key in EXTENSIONS:
                    lower_keys(value, key)
                elif key in _READ_ONLY:
                    continue
                else:
                    self._set(operation.op, key, None, value, key)
            return
        if isinstance(operation.path, ValuePath):
            named = _attribute(operation.path.attr_path, USER_SCHEMA)
            if named is None or named[0] in _USER_IGNORED:
                return  # emails[type eq "work"].value and the like: Parley's email is the userName
            raise invalid(f"path {operation.path_text!r} is not supported", "invalidPath")
        named = _attribute(operation.path, USER_SCHEMA)
        if named is not None:
            self._set(operation.op, named[0], named[1], operation.value, operation.path_text)

    def _set(self, op: str, attribute: str, sub: str | None, value: Any, shown: str) -> None:
        removing = op == "remove"
        if attribute == "username":
            if removing:
                raise invalid("userName is required and cannot be removed", "mutability")
            self.fields.user_name = user_name(value)
        elif attribute == "displayname":
            self.fields.display_name = None if removing else full_name(value, None)
            self.display_name_sent = True
        elif attribute == "active":
            if removing:
                raise invalid("active cannot be removed; set it to false to suspend", "mutability")
            self.fields.active = boolean(value, "active")
        elif attribute == "externalid":
            self.fields.external_id = None if removing else external_id(value)
        elif attribute == "name":
            if removing:
                self.name_parts = {}
            elif sub is None:
                self.name_parts.update(lower_keys(value, "name"))
            else:
                self.name_parts[sub] = value
        elif attribute in _USER_IGNORED or attribute in _READ_ONLY:
            return
        else:
            raise invalid(f"unknown attribute: {shown}", "invalidPath")

    def result(self) -> UserFields:
        if self.name_parts and not self.display_name_sent:
            named = full_name(None, {key: value for key, value in self.name_parts.items()})
            if named:
                self.fields.display_name = named
        return self.fields


def patch_user(current: UserFields, operations: list[PatchOperation]) -> UserFields:
    patch = _UserPatch(current)
    for operation in operations:
        patch.apply(operation)
    return patch.result()


def _selects(node: FilterNode, member_id: str) -> bool:
    """Whether a member filter (`value eq "…"`, and/or/not of those) selects the member with this id."""
    if isinstance(node, Comparison) and node.attr_path.attr.lower() == "value" and not node.attr_path.sub_attr:
        if node.op == CompareOperator.eq:
            return member_id.lower() == str(node.value).lower()
        if node.op == CompareOperator.ne:
            return member_id.lower() != str(node.value).lower()
    if isinstance(node, LogicalExpr):
        results = (_selects(term, member_id) for term in node.terms)
        return all(results) if node.op == LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not _selects(node.expr, member_id)
    raise invalid(f"members can be selected by value eq/ne only, not {node}", "invalidFilter")


class _GroupPatch:
    def __init__(self, current: GroupFields) -> None:
        self.fields = dataclasses.replace(current, members=list(current.members))

    def apply(self, operation: PatchOperation) -> None:
        if operation.path is None:
            for key, value in lower_keys(operation.value, "value").items():
                if key not in _READ_ONLY:
                    self._set(operation.op, key, value, operation.has_value, key)
            return
        if isinstance(operation.path, ValuePath):
            named = _attribute(operation.path.attr_path, GROUP_SCHEMA)
            if named is None or named[0] != "members" or operation.path.sub_attr:
                raise invalid(f"path {operation.path_text!r} is not supported", "invalidPath")
            if operation.op != "remove":
                raise invalid("members[...] can only be removed; add or replace members by value", "invalidPath")
            selector = operation.path.val_filter
            self.fields.members = [m for m in self.fields.members if not _selects(selector, m)]
            return
        named = _attribute(operation.path, GROUP_SCHEMA)
        if named is None or named[1] not in (None, "value") or (named[1] and named[0] != "members"):
            raise invalid(f"path {operation.path_text!r} is not supported", "invalidPath")
        self._set(operation.op, named[0], operation.value, operation.has_value, operation.path_text)

    def _set(self, op: str, attribute: str, value: Any, has_value: bool, shown: str) -> None:
        if attribute == "displayname":
            if op == "remove":
                raise invalid("displayName is required and cannot be removed", "mutability")
            self.fields.display_name = group_name(value)
        elif attribute == "externalid":
            self.fields.external_id = None if op == "remove" else external_id(value)
        elif attribute == "members":
            self._members(op, value, has_value)
        elif attribute in COMMON_ATTRIBUTES:
            return
        else:
            raise invalid(f"unknown attribute: {shown}", "invalidPath")

    def _members(self, op: str, value: Any, has_value: bool) -> None:
        if op == "remove":
            if not has_value or value is None:
                self.fields.members = []  # RFC 7644, 3.5.2.2: no value removes every member
                return
            gone = {member.lower() for member in member_ids(value)}
            self.fields.members = [m for m in self.fields.members if m.lower() not in gone]
            return
        ids = member_ids([] if value is None else value)
        if op == "replace":
            self.fields.members = ids
            return
        known = {member.lower() for member in self.fields.members}
        self.fields.members += [member for member in ids if member.lower() not in known]


def patch_group(current: GroupFields, operations: list[PatchOperation]) -> GroupFields:
    patch = _GroupPatch(current)
    for operation in operations:
        patch.apply(operation)
    return patch.fields
