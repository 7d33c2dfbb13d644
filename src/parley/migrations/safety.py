"""Zero-downtime upgrades (README, "Upgrades without downtime"): which migrations the previous release survives.

During a rolling upgrade the migration Job runs first, then new pods replace old ones one by one, so the previous
release's code keeps reading and writing the migrated schema for a while. A migration is safe for that (an
*expand* step) when it only adds: nullable columns or ones with a server default, new tables, indexes built
concurrently (or on tables that stay small). Taking something away (a table, a column, a name) is a *contract*
step: it ships at least one release after the code stopped using what it removes, and says so in a module constant
`CONTRACT = "<what> unused since <revision>"` naming that earlier revision.

Revisions written before this check (up to 0016) that the previous release would not survive carry
`DOWNTIME = "<why>"` instead: upgrading across one of them means stopping the old pods first (README lists them).
A newer revision cannot use that escape.

The check runs each revision's `upgrade()` against Alembic's `Operations` in a recording mode: every operation
(`op.add_column`, `op.drop_table`, `op.execute`…) is collected, none is executed, and the list is judged. Raw SQL
given to `op.execute` is judged by the statement text Alembic would send.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Computed, Identity
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ClauseElement

from parley.migrations.runner import alembic_config

# Tables that grow with use (a row per message, upload, chunk, request, audit event, user or session): an index
# built on one without CONCURRENTLY blocks its writes for the whole build. The others stay small (plans, roles,
# groups, settings-like rows), so a plain index build there takes milliseconds.
BIG_TABLES = frozenset(
    {
        "api_keys",
        "audit_events",
        "conversations",
        "file_chunks",
        "files",
        "jobs",
        "knowledge_base_files",
        "limit_refusals",
        "messages",
        "quota_counters",
        "refresh_tokens",
        "usage_logs",
        "users",
    }
)

# The first revision written under this check: DOWNTIME notes are refused from here on.
CHECKED_FROM = "0017"
_CONTRACT_NOTE = re.compile(r"\bsince (\d{4})\b")
_RAW_SQL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bDROP\s+(TABLE|COLUMN)\b", re.IGNORECASE), "drops a table or column"),
    (re.compile(r"\bRENAME\b", re.IGNORECASE), "renames a table or column"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.IGNORECASE), "changes a column's type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.IGNORECASE), "makes a column NOT NULL"),
    (
        re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)", re.IGNORECASE),
        "builds an index without CONCURRENTLY",
    ),
)


@dataclass
class Verdict:
    """What one revision does that the previous release's code would not survive (`problems`), and its
    contract note if it has one."""

    revision: str
    problems: list[str] = field(default_factory=list)
    contract: str | None = None
    downtime: str | None = None

    @property
    def safe(self) -> bool:
        """Accepted: nothing the previous release would not survive, or a valid contract (or old downtime) note."""
        return not self.problems or self.contract is not None or self.downtime is not None


def record_upgrade(module: ModuleType) -> list[ops.MigrateOperation]:
    """The operations `module.upgrade()` performs, in order, with nothing executed: Alembic's `op` is bound to an
    offline PostgreSQL context whose `invoke` (through which every operation passes) only records."""
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": io.StringIO()}
    )
    recorded: list[ops.MigrateOperation] = []

    def record(operation: ops.MigrateOperation) -> None:
        recorded.append(operation)

    with Operations.context(context) as operations:
        operations.invoke = record  # type: ignore[method-assign,assignment]
        operations.get_bind = lambda: _RecordingConnection(recorded)  # type: ignore[method-assign,assignment,return-value]
        module.upgrade()
    return recorded


class _EmptyResult:
    """What a data migration's query reads in recording mode: no rows (so its batch loop ends at once)."""

    def all(self) -> list[Any]:
        return []

    fetchall = all

    def first(self) -> None:
        return None

    scalar = scalar_one_or_none = first

    def __iter__(self) -> Any:
        return iter(())


class _RecordingConnection:
    """`op.get_bind()` in recording mode: each statement a data migration runs is recorded like `op.execute`."""

    def __init__(self, recorded: list[ops.MigrateOperation]) -> None:
        self._recorded = recorded

    def execute(self, statement: Any, *_args: Any, **_kwargs: Any) -> _EmptyResult:
        self._recorded.append(ops.ExecuteSQLOp(statement))
        return _EmptyResult()


def judge(
    revision: str,
    operations: list[ops.MigrateOperation],
    contract: str | None = None,
    downtime: str | None = None,
) -> Verdict:
    """The verdict on one revision's operations. A contract note must name an earlier revision (`... since 00NN`);
    a downtime note is accepted only on revisions older than `CHECKED_FROM`."""
    verdict = Verdict(revision=revision)
    created = {o.table_name for o in operations if isinstance(o, ops.CreateTableOp)}
    for operation in operations:
        problem = _problem(operation, created)
        if problem is not None:
            verdict.problems.append(problem)
    if contract is not None:
        match = _CONTRACT_NOTE.search(contract)
        if match is None or not match.group(1) < revision:
            verdict.problems.append(
                f"its CONTRACT note {contract!r} must name the earlier revision that stopped using what it"
                " removes ('... since 00NN')"
            )
        else:
            verdict.contract = contract
    if downtime is not None:
        if revision >= CHECKED_FROM:
            verdict.problems.append(
                f"DOWNTIME notes are for revisions before {CHECKED_FROM}; split it into expand and contract steps"
            )
        else:
            verdict.downtime = downtime
    return verdict


def check_all() -> list[Verdict]:
    """The verdict on every revision, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config())
    verdicts = []
    for script in reversed(list(scripts.walk_revisions())):
        module = script.module
        operations = record_upgrade(module)
        verdicts.append(
            judge(script.revision, operations, getattr(module, "CONTRACT", None), getattr(module, "DOWNTIME", None))
        )
    return verdicts


def _problem(operation: ops.MigrateOperation, created: set[str]) -> str | None:
    """Why the previous release's code, still running, would break or stall on this operation (None: it would
    not). Tables created by the same revision are new: nothing runs against them yet."""
    if isinstance(operation, ops.DropTableOp):
        return f"drops table {operation.table_name}"
    if isinstance(operation, ops.RenameTableOp):
        return f"renames table {operation.table_name} to {operation.new_table_name}"
    table = getattr(operation, "table_name", None)
    if table in created:
        return None
    if isinstance(operation, ops.DropColumnOp):
        return f"drops column {table}.{operation.column_name}"
    if isinstance(operation, ops.AddColumnOp):
        column = operation.column
        generated = isinstance(column.server_default, (Computed, Identity)) or column.computed is not None
        if not column.nullable and column.server_default is None and not generated:
            return f"adds NOT NULL column {table}.{column.name} without a server default"
        return None
    if isinstance(operation, ops.AlterColumnOp):
        if operation.modify_name is not None:
            return f"renames column {table}.{operation.column_name} to {operation.modify_name}"
        if operation.modify_type is not None:
            return f"changes the type of {table}.{operation.column_name} (a table rewrite under lock)"
        if operation.modify_nullable is False:
            return f"makes {table}.{operation.column_name} NOT NULL (a scan under lock; old code may write NULL)"
        return None
    if isinstance(operation, ops.CreateIndexOp):
        concurrently = operation.kw.get("postgresql_concurrently", False)
        if table in BIG_TABLES and not concurrently:
            return f"builds index {operation.index_name} on {table} without CONCURRENTLY"
        return None
    if isinstance(operation, ops.CreateUniqueConstraintOp) and table in BIG_TABLES:
        return f"adds unique constraint {operation.constraint_name} on {table} (an index built under lock)"
    if isinstance(operation, ops.ExecuteSQLOp):
        return _raw_sql_problem(operation.sqltext, created)
    return None


def _raw_sql_problem(sqltext: Any, created: set[str]) -> str | None:
    statement = (
        str(sqltext.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
        if isinstance(sqltext, ClauseElement)
        else str(sqltext)
    )
    for pattern, what in _RAW_SQL_RULES:
        if pattern.search(statement) and not any(re.search(rf"\b{t}\b", statement) for t in created):
            return f"{what}: {' '.join(statement.split())[:120]}"
    return None
