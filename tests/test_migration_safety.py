"""Upgrades without downtime (README): every migration must leave a schema the previous release's code, still
running during a rolling upgrade, survives, unless it is a contract step naming the earlier revision that stopped
using what it removes. The check records what each `upgrade()` does through Alembic's `Operations`."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import op

from parley.migrations.safety import CHECKED_FROM, check_all, judge, record_upgrade


def _verdict(upgrade: Callable[[], None], *, revision: str = "0099", contract: str | None = None, downtime=None):  # type: ignore[no-untyped-def]
    return judge(revision, record_upgrade(SimpleNamespace(upgrade=upgrade)), contract, downtime)  # type: ignore[arg-type]


def test_every_migration_is_safe_for_the_previous_release_or_says_why_not() -> None:
    refused = {v.revision: v.problems for v in check_all() if not v.safe}
    assert refused == {}


def test_the_recorded_migrations_include_the_newest_and_this_release_adds_no_downtime() -> None:
    verdicts = {v.revision: v for v in check_all()}
    assert CHECKED_FROM in verdicts
    assert [r for r, v in verdicts.items() if r >= CHECKED_FROM and (v.problems or v.downtime)] == []
    # The table 0012 drops is found by the recorder, not taken on trust from the note.
    assert verdicts["0012"].problems == ["drops table quota_reservations"]


UNSAFE: dict[str, tuple[Callable[[], Any], str]] = {
    "drop column": (lambda: op.drop_column("messages", "citations"), "drops column messages.citations"),
    "drop table": (lambda: op.drop_table("plans"), "drops table plans"),
    "rename table": (lambda: op.rename_table("groups", "teams"), "renames table groups to teams"),
    "rename column": (
        lambda: op.alter_column("users", "full_name", new_column_name="name"),
        "renames column users.full_name to name",
    ),
    "not null without default": (
        lambda: op.add_column("users", sa.Column("team", sa.String(20), nullable=False)),
        "adds NOT NULL column users.team without a server default",
    ),
    "type change": (
        lambda: op.alter_column("messages", "content", type_=sa.String(100)),
        "changes the type of messages.content",
    ),
    "set not null": (
        lambda: op.alter_column("users", "full_name", nullable=False),
        "makes users.full_name NOT NULL",
    ),
    "index on a big table": (
        lambda: op.create_index("ix_messages_model", "messages", ["model"]),
        "builds index ix_messages_model on messages without CONCURRENTLY",
    ),
    "raw drop": (lambda: op.execute("ALTER TABLE files DROP COLUMN sha256"), "drops a table or column"),
    "raw rename": (lambda: op.execute("ALTER TABLE files RENAME TO uploads"), "renames a table or column"),
    "raw index": (lambda: op.execute("CREATE INDEX ix_x ON messages (model)"), "without CONCURRENTLY"),
    "data migration's own statement": (
        lambda: op.get_bind().execute(sa.text("ALTER TABLE usage_logs ALTER COLUMN model TYPE text")),
        "changes a column's type",
    ),
}


@pytest.mark.parametrize("name", UNSAFE)
def test_each_unsafe_operation_is_refused_without_a_contract_note(name: str) -> None:
    upgrade, problem = UNSAFE[name]
    verdict = _verdict(upgrade)
    assert not verdict.safe
    assert len(verdict.problems) == 1 and problem in verdict.problems[0], verdict.problems


def test_expand_steps_pass() -> None:
    def upgrade() -> None:
        op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))
        op.add_column("users", sa.Column("theme", sa.String(10), server_default="light", nullable=False))
        with op.get_context().autocommit_block():  # how a concurrent build runs outside the transaction
            op.create_index("ix_messages_model", "messages", ["model"], postgresql_concurrently=True)
        op.create_index("ix_groups_name_lower", "groups", [sa.text("lower(name)")])  # a small table
        op.create_table("badges", sa.Column("id", sa.Uuid(), primary_key=True), sa.Column("n", sa.Integer()))
        op.create_index("ix_badges_n", "badges", ["n"])  # new: nothing runs against it yet
        op.alter_column("badges", "n", nullable=False)
        op.execute("UPDATE users SET theme = 'dark' WHERE theme IS NULL")
        rows = op.get_bind().execute(sa.text("SELECT id FROM users")).all()  # a data migration reads nothing here
        assert rows == []

    verdict = _verdict(upgrade)
    assert (verdict.safe, verdict.problems) == (True, [])


class TestContractNotes:
    def test_a_contract_step_naming_an_earlier_revision_passes(self) -> None:
        verdict = _verdict(
            lambda: op.drop_column("messages", "citations"), contract="messages.citations unused since 0098"
        )
        assert verdict.safe and verdict.contract == "messages.citations unused since 0098"

    @pytest.mark.parametrize("note", ["messages.citations unused", "unused since 0099", "unused since 0120"])
    def test_a_contract_note_must_name_an_earlier_revision(self, note: str) -> None:
        verdict = _verdict(lambda: op.drop_column("messages", "citations"), contract=note)
        assert not verdict.safe and "must name the earlier revision" in verdict.problems[-1]

    def test_downtime_notes_are_refused_on_new_revisions(self) -> None:
        drop = lambda: op.drop_table("plans")  # noqa: E731
        assert _verdict(drop, revision="0016", downtime="old").safe
        refused = _verdict(drop, revision=CHECKED_FROM, downtime="please")
        assert not refused.safe and "split it into expand and contract steps" in refused.problems[-1]
