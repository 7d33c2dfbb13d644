"""The audit trail as a hash chain, and its verification.

Each committed audit row carries `seq` (its place in the chain, from 1), `prev_hash` (the hash of row `seq - 1`;
64 zeros for the first) and `hash` = SHA-256 over the row's canonical content:

    jsonb_build_array('parley.audit.v1', id, created_at (UTC, microseconds), actor_id, action, target_type,
                      target_id, ip, details, prev_hash)::text

PostgreSQL computes it (`canonical_sql`), in a deferred constraint trigger that runs at COMMIT (migration 0020):
it locks the single row of `audit_chain_head`, chains the transaction's new rows after the head and moves the
head. So rows are chained in commit order, one transaction at a time across every replica; a transaction that
rolls back never took a place in the chain; and the head row's lock is held only for the commit itself, not for
the transaction (a long transaction that wrote an audit row early does not hold up everyone's sign-in).

`seq` is not part of the hash: the order is the links. A row moved to another place keeps a valid hash of its
own but no longer links to its neighbour, which is how a reordering is told from an edit.

`verify` walks the chain in `seq` order, recomputing every hash in the query (the expression is sent with the
query, not called as a stored function an intruder could replace), and checks the signed checkpoints
(`parley.audit.checkpoints`): it stops at the first edited, deleted, reordered or unchained row, and reports a
chain that ends before its head or its last checkpoint (a truncated tail).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.signing import signature_is_valid

GENESIS_HASH = "0" * 64
CONTENT_VERSION = "parley.audit.v1"
CHECKPOINT_VERSION = "parley.audit.checkpoint.v1"


def canonical_sql(row: str, prev_hash: str) -> str:
    """The SQL text of a row's canonical content; `row` is the row's name in the statement (`NEW` in the
    trigger, a table alias in a query), `prev_hash` the expression of the previous row's hash."""
    return (
        f"jsonb_build_array('{CONTENT_VERSION}', {row}.id::text, "
        f"""to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), """
        f"{row}.actor_id::text, {row}.action, {row}.target_type, {row}.target_id, {row}.ip, {row}.details, "
        f"{prev_hash})::text"
    )


def hash_sql(row: str, prev_hash: str) -> str:
    """The SQL expression of a row's hash (lower-case hex SHA-256 of its canonical content, UTF-8)."""
    return f"encode(sha256(convert_to({canonical_sql(row, prev_hash)}, 'UTF8')), 'hex')"


def checkpoint_message(seq: int, chain_hash: str, created_at: datetime) -> bytes:
    """What a checkpoint's Ed25519 signature covers."""
    stamp = created_at.isoformat(timespec="microseconds")
    return json.dumps([CHECKPOINT_VERSION, seq, chain_hash, stamp], separators=(",", ":")).encode()


ProblemKind = Literal["edited", "deleted", "reordered", "unchained", "truncated", "rewritten", "checkpoint"]


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with the chain: what, at which row (`seq`, and the row's id when it exists)."""

    kind: ProblemKind
    seq: int | None
    message: str
    event_id: str | None = None


@dataclass
class Verdict:
    """The outcome of one walk: `problem` is None when the whole chain and every checkpoint hold."""

    rows: int = 0
    head_seq: int = 0
    checkpoints: int = 0
    # The newest checkpoint the chain was found to match (its seq and time), if any.
    verified_checkpoint_seq: int | None = None
    verified_checkpoint_at: datetime | None = None
    # Checkpoints not checked for want of their public key (no trusted keys were given).
    unchecked_checkpoints: int = 0
    # Checkpoints signed by keys not trusted here: not used (they cannot vouch for the chain, nor break it).
    untrusted_checkpoints: int = 0
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        """One line for people: what was verified, or the first problem."""
        if self.problem is not None:
            where = f"row #{self.problem.seq}" if self.problem.seq is not None else "the chain"
            return f"audit chain broken at {where}: {self.problem.message}"
        checkpoint = (
            f", up to checkpoint #{self.verified_checkpoint_seq} signed at "
            f"{self.verified_checkpoint_at.isoformat() if self.verified_checkpoint_at else '?'}"
            if self.verified_checkpoint_seq is not None
            else ", no signed checkpoint yet"
        )
        ignored = (
            f" ({self.untrusted_checkpoints} checkpoint(s) signed by keys not trusted here were not used)"
            if self.untrusted_checkpoints
            else ""
        )
        return f"audit chain verified: {self.rows} rows{checkpoint}{ignored}"


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    hash: str
    created_at: datetime
    key_id: str
    public_key: str
    signature: str


_RECOMPUTED = hash_sql("e", "e.prev_hash")
_WALK = text(
    "SELECT e.seq, e.id::text AS id, e.action, e.created_at, e.prev_hash, e.hash, "  # noqa: S608 (fixed SQL)
    f"{_RECOMPUTED} AS recomputed FROM audit_events e ORDER BY e.seq NULLS LAST, e.created_at, e.id"
)


async def verify(session: AsyncSession, *, trusted_public_keys: Iterable[str] = ()) -> Verdict:
    """Walk the whole chain and its checkpoints (streamed: memory does not grow with the table). Checkpoints are
    checked against `trusted_public_keys` (hex raw Ed25519 keys): one signed by another key is left out (an
    intruder's own checkpoint proves nothing either way), one whose signature fails is a problem. With no trusted
    key at all, signatures are not checked but the checkpoints' hashes still are."""
    trusted = {key.lower() for key in trusted_public_keys}
    verdict = Verdict()
    checkpoints = await _checkpoints(session)
    verdict.checkpoints = len(checkpoints)
    by_seq: dict[int, list[_Checkpoint]] = {}
    used: list[_Checkpoint] = []
    for checkpoint in checkpoints:
        if trusted and checkpoint.public_key.lower() not in trusted:
            verdict.untrusted_checkpoints += 1
            continue
        problem = _checkpoint_problem(checkpoint, trusted)
        if problem is not None:
            verdict.problem = problem
            return verdict
        if not trusted:
            verdict.unchecked_checkpoints += 1
        by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
        used.append(checkpoint)
    head = (await session.execute(text("SELECT seq, hash FROM audit_chain_head WHERE id = 1"))).first()
    verdict.head_seq = int(head.seq) if head is not None else 0

    expected_seq, prev_hash, last_good_checkpoint = 1, GENESIS_HASH, 0
    stream = await session.stream(_WALK.execution_options(yield_per=2000))
    try:
        async for row in stream:
            problem = await _row_problem(session, row, expected_seq, prev_hash)
            if problem is None and row.seq in by_seq:
                for checkpoint in by_seq[row.seq]:
                    if checkpoint.hash != row.hash:
                        problem = Problem(
                            "rewritten",
                            last_good_checkpoint + 1,
                            f"the chain up to row #{row.seq} no longer matches the checkpoint signed at "
                            f"{checkpoint.created_at.isoformat()}: a row from #{last_good_checkpoint + 1} to "
                            f"#{row.seq} was changed and the hashes after it recomputed",
                        )
                        break
                else:
                    last_good_checkpoint = row.seq
                    verdict.verified_checkpoint_seq = row.seq
                    verdict.verified_checkpoint_at = by_seq[row.seq][-1].created_at
            if problem is not None:
                verdict.problem = problem
                return verdict
            verdict.rows += 1
            expected_seq, prev_hash = row.seq + 1, row.hash
    finally:
        await stream.close()

    last_seq = expected_seq - 1
    newest_checkpoint = max(used, key=lambda c: c.seq, default=None)
    if newest_checkpoint is not None and newest_checkpoint.seq > last_seq:
        verdict.problem = Problem(
            "truncated",
            last_seq + 1,
            f"the chain ends at row #{last_seq}, but the checkpoint signed at "
            f"{newest_checkpoint.created_at.isoformat()} covers up to row #{newest_checkpoint.seq}: "
            f"rows #{last_seq + 1} to #{newest_checkpoint.seq} (at least) were deleted",
        )
    elif head is not None and verdict.head_seq > last_seq:
        verdict.problem = Problem(
            "truncated",
            last_seq + 1,
            f"the chain ends at row #{last_seq}, but its head says #{verdict.head_seq}: rows #{last_seq + 1} to "
            f"#{verdict.head_seq} were deleted",
        )
    elif head is not None and verdict.head_seq == last_seq and last_seq > 0 and head.hash != prev_hash:
        verdict.problem = Problem(
            "rewritten", last_seq, f"row #{last_seq}'s hash differs from the chain head's: the tail was rewritten"
        )
    return verdict


async def _row_problem(session: AsyncSession, row: Any, expected_seq: int, prev_hash: str) -> Problem | None:
    event_id = str(row.id)
    described = f"({row.action}, {row.created_at.isoformat()}, id {event_id})"
    if row.seq is None:
        return Problem(
            "unchained",
            None,
            f"the row {described} is not in the chain: it was written with the chain trigger disabled",
            event_id,
        )
    if row.hash != row.recomputed:
        return Problem(
            "edited",
            row.seq,
            f"row #{row.seq} {described} was edited: its content no longer matches its hash",
            event_id,
        )
    if row.seq < expected_seq:
        return Problem(
            "reordered", row.seq, f"row #{row.seq} {described} repeats a place already taken in the chain", event_id
        )
    if row.prev_hash == prev_hash:
        if row.seq > expected_seq:
            return Problem(
                "reordered",
                expected_seq,
                f"the rows were renumbered: row #{row.seq} {described} follows row #{expected_seq - 1} directly",
                event_id,
            )
        return None
    if row.seq > expected_seq:
        missing = f"#{expected_seq}" if row.seq == expected_seq + 1 else f"#{expected_seq} to #{row.seq - 1}"
        return Problem("deleted", expected_seq, f"row(s) {missing} were deleted (before row #{row.seq})")
    # Its own hash holds, but it does not follow the row before it: moved here, or a row before it went.
    found = (
        await session.execute(
            text("SELECT seq FROM audit_events WHERE hash = :hash ORDER BY seq LIMIT 1"), {"hash": row.prev_hash}
        )
    ).first()
    if found is not None and found.seq is not None:
        return Problem(
            "reordered",
            row.seq,
            f"row #{row.seq} {described} was moved: it was chained after the row now at #{found.seq}, "
            f"not after #{row.seq - 1}",
            event_id,
        )
    return Problem(
        "deleted",
        row.seq,
        f"row #{row.seq} {described} does not follow row #{row.seq - 1}: the row chained before it was deleted "
        f"(and the rows renumbered) or row #{row.seq - 1} was replaced",
        event_id,
    )


def _checkpoint_problem(checkpoint: _Checkpoint, trusted: set[str]) -> Problem | None:
    if not trusted:
        return None
    message = checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.created_at)
    if not signature_is_valid(checkpoint.public_key, message, checkpoint.signature):
        return Problem(
            "checkpoint",
            checkpoint.seq,
            f"the checkpoint at row #{checkpoint.seq} (signed at {checkpoint.created_at.isoformat()}) was edited: "
            "its signature does not match",
        )
    return None


async def _checkpoints(session: AsyncSession) -> list[_Checkpoint]:
    rows = await session.execute(
        text(
            "SELECT seq, hash, created_at, key_id, public_key, signature FROM audit_checkpoints "
            "ORDER BY seq, created_at"
        )
    )
    return [
        _Checkpoint(
            seq=int(r.seq),
            hash=r.hash,
            created_at=r.created_at,
            key_id=r.key_id,
            public_key=r.public_key,
            signature=r.signature,
        )
        for r in rows
    ]
