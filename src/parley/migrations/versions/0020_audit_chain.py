"""Tamper-evident audit trail (issue 14): audit_events become a hash chain, with its head and signed checkpoints

Each audit row gets `seq`, `prev_hash` and `hash` (README, "Audit trail"; `parley.audit.chain`). A deferred
constraint trigger chains the rows a transaction inserted when it commits: it locks the one row of
`audit_chain_head`, so commits that add audit rows are chained one at a time, in commit order, whichever replica
wrote them; a transaction that rolls back never took a place. The rows already there are chained here, oldest
first. The foreign key from `actor_id` to `users` goes: its ON DELETE SET NULL would rewrite chained rows when a
user is deleted (erasure), breaking the chain; the id stays behind as a pseudonym.

An expand step: nullable columns (no rewrite), new tables, a trigger and a dropped foreign key; the previous
release's inserts are chained by the trigger like the new one's. The backfill holds `audit_events` for as long as
it takes to chain the existing rows (about a second per 100,000 rows).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of parley.audit.chain.canonical_sql / hash_sql (a migration never changes with the code after
# it); tests/audit checks that the two agree.
_GENESIS = "repeat('0', 64)"


def _hash(row: str, prev_hash: str) -> str:
    canonical = (
        f"jsonb_build_array('parley.audit.v1', {row}.id::text, "
        f"""to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), """
        f"{row}.actor_id::text, {row}.action, {row}.target_type, {row}.target_id, {row}.ip, {row}.details, "
        f"{prev_hash})::text"
    )
    return f"encode(sha256(convert_to({canonical}, 'UTF8')), 'hex')"


_CHAIN_FUNCTION = f"""
CREATE OR REPLACE FUNCTION parley_audit_chain_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    state text := current_setting('parley.audit_chain_state', true);
    head_seq bigint;
    head_hash text;
    head_row tid;
    row_hash text;
BEGIN
    IF state IS NULL OR state = '' THEN
        -- The first row of this commit: the head's row lock orders every commit that adds audit rows (held only
        -- until this commit ends).
        SELECT seq, hash, ctid INTO head_seq, head_hash, head_row FROM audit_chain_head WHERE id = 1 FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, {_GENESIS}) ON CONFLICT (id) DO NOTHING;
            SELECT seq, hash, ctid INTO head_seq, head_hash, head_row FROM audit_chain_head WHERE id = 1 FOR UPDATE;
        END IF;
    ELSE
        -- Further rows of the same commit continue from where the previous one left the head, reached by its
        -- row version's address: re-reading the head through its key would walk every version this commit made
        -- (quadratic in the rows of one transaction).
        head_seq := split_part(state, ' ', 1)::bigint;
        head_hash := split_part(state, ' ', 2);
        head_row := split_part(state, ' ', 3)::tid;
    END IF;
    head_seq := head_seq + 1;
    row_hash := {_hash("NEW", "head_hash")};
    UPDATE audit_events SET seq = head_seq, prev_hash = head_hash, hash = row_hash WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted again before its commit: it takes no place in the chain
    END IF;
    UPDATE audit_chain_head SET seq = head_seq, hash = row_hash, updated_at = now() WHERE ctid = head_row
    RETURNING ctid INTO head_row;
    PERFORM set_config('parley.audit_chain_state', head_seq || ' ' || row_hash || ' ' || head_row::text, true);
    RETURN NULL;
END
$$
"""  # noqa: S608 (fixed SQL, no input)

_BACKFILL = f"""
DO $$
DECLARE
    r record;
    chain_seq bigint := 0;
    chain_hash text := {_GENESIS};
    row_hash text;
BEGIN
    INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, {_GENESIS}) ON CONFLICT (id) DO NOTHING;
    SELECT seq, hash INTO chain_seq, chain_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE;
    FOR r IN SELECT * FROM audit_events WHERE seq IS NULL ORDER BY created_at, id LOOP
        chain_seq := chain_seq + 1;
        row_hash := {_hash("r", "chain_hash")};
        UPDATE audit_events SET seq = chain_seq, prev_hash = chain_hash, hash = row_hash WHERE id = r.id;
        chain_hash := row_hash;
    END LOOP;
    UPDATE audit_chain_head SET seq = chain_seq, hash = chain_hash, updated_at = now() WHERE id = 1;
END
$$
"""  # noqa: S608 (fixed SQL, no input)


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(length=64), nullable=True))
    op.drop_constraint(op.f("fk_audit_events_actor_id_users"), "audit_events", type_="foreignkey")
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"], unique=False)
    op.execute(_CHAIN_FUNCTION)
    op.execute(
        "CREATE CONSTRAINT TRIGGER audit_events_chain AFTER INSERT ON audit_events "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION parley_audit_chain_append()"
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_chain ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS parley_audit_chain_append()")
    op.drop_index("ix_audit_checkpoints_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    op.execute("UPDATE audit_events SET actor_id = NULL WHERE actor_id NOT IN (SELECT id FROM users)")
    op.create_foreign_key(
        op.f("fk_audit_events_actor_id_users"), "audit_events", "users", ["actor_id"], ["id"], ondelete="SET NULL"
    )
    op.drop_column("audit_events", "hash")
    op.drop_column("audit_events", "prev_hash")
    op.drop_column("audit_events", "seq")
