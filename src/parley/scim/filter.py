"""SCIM filters (RFC 7644, section 3.4.2.2) as SQL conditions over Parley's users and groups.

scim2-models parses the filter into a tree; this module walks it (`FilterVisitor`) and maps each attribute IdPs
filter on to its column. String comparisons follow each attribute's `caseExact` (userName, displayName and
emails ignore case; externalId and ids do not). An attribute Parley cannot filter on, an operator its type does
not take, or a filter that does not parse is a 400 `invalidFilter`, never a silent empty answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim2_models import ScimFilter
from scim2_models.exceptions import SCIMException
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, exists, false, func, literal, not_, or_, select, true

from parley.errors import BadRequest
from parley.models import Group, GroupMember, User
from parley.scim.discovery import GROUP_SCHEMA, USER_SCHEMA
from parley.scim.errors import invalid

_STRING_OPS = {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}


@dataclass(frozen=True)
class Column:
    """A filterable attribute: its SQL expression and type ("string", "boolean", "uuid", "datetime")."""

    sql: SQLColumnExpression[Any]
    kind: str = "string"
    case_exact: bool = False


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bad(message: str) -> BadRequest:
    return invalid(message, "invalidFilter")


def compare(column: Column, op: CompareOperator, value: Any, name: str) -> ColumnElement[bool]:
    """One comparison, `name op value`, on `column` (RFC 7644, table 3)."""
    sql = column.sql
    if value is None:
        if op in (CompareOperator.eq, CompareOperator.ne):
            return sql.is_(None) if op == CompareOperator.eq else sql.is_not(None)
        raise _bad(f"{name}: null can only be compared with eq or ne")
    if column.kind == "boolean":
        if not isinstance(value, bool) or op not in (CompareOperator.eq, CompareOperator.ne):
            raise _bad(f"{name} is a boolean: compare it with eq or ne and true or false")
        return sql.is_(value) if op == CompareOperator.eq else sql.is_not(value)
    if column.kind == "uuid":
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, str):
            raise _bad(f"{name} is an id: compare it with eq or ne and a string")
        try:
            wanted = uuid.UUID(value)
        except ValueError:
            return false() if op == CompareOperator.eq else true()
        return sql == wanted if op == CompareOperator.eq else sql != wanted
    if column.kind == "datetime":
        if op in _STRING_OPS or not isinstance(value, str):
            raise _bad(f"{name} is a date-time: compare it with eq, ne, gt, ge, lt or le and an ISO 8601 string")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _bad(f"{name}: {value!r} is not an ISO 8601 date-time") from exc
        return _ordered(sql, op, moment)
    if not isinstance(value, str):
        raise _bad(f"{name} is a string: compare it with a quoted value")
    if not column.case_exact:
        sql, value = func.lower(sql), value.lower()
    if op == CompareOperator.co:
        return sql.like(f"%{_escape_like(value)}%", escape="\\")
    if op == CompareOperator.sw:
        return sql.like(f"{_escape_like(value)}%", escape="\\")
    if op == CompareOperator.ew:
        return sql.like(f"%{_escape_like(value)}", escape="\\")
    return _ordered(sql, op, value)


def present(column: Column) -> ColumnElement[bool]:
    """`attr pr`: the attribute has a value (a string one that is not empty)."""
    found: ColumnElement[bool] = column.sql.is_not(None)
    return and_(found, column.sql != "") if column.kind == "string" else found


def _ordered(sql: SQLColumnExpression[Any], op: CompareOperator, value: Any) -> ColumnElement[bool]:
    operators: dict[CompareOperator, Callable[[Any], ColumnElement[bool]]] = {
        CompareOperator.eq: sql.__eq__,
        CompareOperator.ne: sql.__ne__,
        CompareOperator.gt: sql.__gt__,
        CompareOperator.ge: sql.__ge__,
        CompareOperator.lt: sql.__lt__,
        CompareOperator.le: sql.__le__,
    }
    return operators[op](value)


class _SqlFilter(FilterVisitor[ColumnElement[bool]]):
    """A filter tree as one SQL condition; `columns` maps lower-case "attr" or "attr.sub" to a column."""

    def __init__(self, columns: dict[str, Column], schema: str, complex_attributes: dict[str, _SqlFilter]) -> None:
        self.columns = columns
        self.schema = schema
        # Multi-valued complex attributes a value path selects in ("emails[type eq \"work\"]"): their filter.
        self.complex_attributes = complex_attributes

    def _name(self, path: AttrPath) -> str:
        if path.uri is not None and path.uri.lower() != self.schema.lower():
            raise _bad(f"filtering on {path.uri} is not supported")
        name = path.attr.lower()
        return f"{name}.{path.sub_attr.lower()}" if path.sub_attr else name

    def _column(self, path: AttrPath) -> Column:
        name = self._name(path)
        column = self.columns.get(name) or self.columns.get(f"{name}.value")
        if column is None:
            raise _bad(f"filtering on {path} is not supported")
        return column

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        return compare(self._column(node.attr_path), node.op, node.value, str(node.attr_path))

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        return present(self._column(node.attr_path))

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        # SQL's NULL is "unknown"; SCIM's logic has two values, so an unknown inner test counts as false.
        return not_(func.coalesce(self.visit(node.expr), false()))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        inner = self.complex_attributes.get(self._name(node.attr_path))
        if inner is None or node.sub_attr:
            raise _bad(f"filtering on {node} is not supported")
        return inner.visit(node.val_filter)


def _user_columns() -> dict[str, Column]:
    email = Column(User.email)
    return {
        "id": Column(User.id, "uuid"),
        "username": email,
        "externalid": Column(User.external_id, case_exact=True),
        "displayname": Column(User.full_name),
        "name.formatted": Column(User.full_name),
        "active": Column(User.is_active, "boolean"),
        "emails.value": email,
        "emails.type": Column(literal("work")),
        "emails.primary": Column(literal(True), "boolean"),
        "meta.created": Column(User.created_at, "datetime"),
        "meta.lastmodified": Column(User.updated_at, "datetime"),
    }


def _email_columns() -> dict[str, Column]:
    return {"value": Column(User.email), "type": Column(literal("work")), "primary": Column(literal(True), "boolean")}


def _member_column() -> Column:
    """`members.value eq "<user id>"`: the group has that member."""
    return Column(GroupMember.user_id, "uuid")


class _GroupFilter(_SqlFilter):
    """Member tests become EXISTS over the group's memberships."""

    def _members(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        query = select(GroupMember.user_id).where(GroupMember.group_id == Group.id)
        if condition is not None:
            query = query.where(condition)
        return exists(query)

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        if self._name(node.attr_path) in ("members", "members.value"):
            return self._members(compare(_member_column(), node.op, node.value, str(node.attr_path)))
        return super().visit_comparison(node)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        if self._name(node.attr_path) in ("members", "members.value"):
            return self._members(None)
        return super().visit_present(node)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        if self._name(node.attr_path) == "members" and not node.sub_attr:
            member = _SqlFilter({"value": _member_column()}, GROUP_SCHEMA, {})
            return self._members(member.visit(node.val_filter))
        return super().visit_value_path(node)


def parse(expression: str) -> FilterNode:
    """The filter's tree; a filter that does not parse is a 400 `invalidFilter` saying where."""
    if len(expression) > 4000:
        raise _bad("the filter is too long (at most 4000 characters)")
    try:
        return ScimFilter(expression).ast
    except SCIMException as exc:
        raise _bad(f"the filter does not parse: {exc}") from exc


def user_condition(expression: str) -> ColumnElement[bool]:
    emails = _SqlFilter(_email_columns(), USER_SCHEMA, {})
    return _SqlFilter(_user_columns(), USER_SCHEMA, {"emails": emails}).visit(parse(expression))


def group_condition(expression: str) -> ColumnElement[bool]:
    columns = {
        "id": Column(Group.id, "uuid"),
        "displayname": Column(Group.name),
        "externalid": Column(Group.external_id, case_exact=True),
        "meta.created": Column(Group.created_at, "datetime"),
        "meta.lastmodified": Column(Group.updated_at, "datetime"),
    }
    return _GroupFilter(columns, GROUP_SCHEMA, {}).visit(parse(expression))
