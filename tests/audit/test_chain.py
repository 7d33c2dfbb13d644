"""The audit trail as a hash chain: rows chained in commit order across concurrent transactions, and the verdict
of `verify` on a chain edited, cut or reordered with raw SQL (what an intruder with database access would do)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from fastapi import FastAPI
from sqlalchemy import text

from parley.audit import chain
from parley.audit.checkpoints import CheckpointSchedule, write_checkpoint
from parley.audit.service import AuditAction, record
from parley.db import Database


async def append(app: FastAPI, count: int, *, action: AuditAction = AuditAction.LOGIN) -> list[uuid.UUID]:
    """`count` audit rows, each committed in a transaction of its own."""
    database: Database = app.state.database
    ids = []
    for index in range(count):
        async with database.session() as session:
            event = record(session, action, actor_id=uuid.uuid4(), details={"n": index, "ok": True})
            await session.flush()
            ids.append(event.id)
    return ids


async def verdict(app: FastAPI) -> chain.Verdict:
    async with app.state.database.session() as session:
        return await chain.verify(session, trusted_public_keys=[app.state.audit_signer.public_key])


async def tamper(app: FastAPI, statement: str, **params: object) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(text(statement), params)


async def chained_rows(app: FastAPI) -> list[tuple[int, str, str, str]]:
    async with app.state.database.engine.connect() as connection:
        rows = await connection.execute(text("SELECT seq, id::text, prev_hash, hash FROM audit_events ORDER BY seq"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


class TestAppend:
    async def test_rows_are_linked_in_commit_order(self, app, client):
        ids = await append(app, 3)
        rows = await chained_rows(app)
        assert [r[0] for r in rows] == [1, 2, 3]
        assert [r[1] for r in rows] == [str(i) for i in ids]
        assert rows[0][2] == chain.GENESIS_HASH
        assert rows[1][2] == rows[0][3] and rows[2][2] == rows[1][3]
        assert all(len(r[3]) == 64 for r in rows)
        result = await verdict(app)
        assert result.ok, result.summary()
        assert result.rows == 3 and result.head_seq == 3

    async def test_the_later_insert_that_commits_first_is_chained_first(self, app, client):
        database: Database = app.state.database
        async with database.sessionmaker() as first, database.sessionmaker() as second:
            early = record(first, AuditAction.LOGIN, actor_id=None, details={"who": "first"})
            await first.flush()
            late = record(second, AuditAction.LOGIN, actor_id=None, details={"who": "second"})
            await second.flush()
            await second.commit()
            await first.commit()
        assert [r[1] for r in await chained_rows(app)] == [str(late.id), str(early.id)]
        assert (await verdict(app)).ok

    async def test_concurrent_appends_and_a_rollback_leave_one_unbroken_chain(self, app, client):
        database: Database = app.state.database

        async def one(index: int) -> None:
            async with database.sessionmaker() as session:
                record(session, AuditAction.API_KEY_CREATE, actor_id=uuid.uuid4(), details={"i": index})
                await session.flush()
                await asyncio.sleep(0.001 * (index % 5))
                if index % 7 == 3:
                    await session.rollback()
                else:
                    await session.commit()

        await asyncio.gather(*(one(i) for i in range(40)))
        rows = await chained_rows(app)
        committed = [i for i in range(40) if i % 7 != 3]
        assert [r[0] for r in rows] == list(range(1, len(committed) + 1))
        result = await verdict(app)
        assert result.ok, result.summary()
        assert result.rows == len(committed)

    async def test_two_replicas_appending_at_once_build_one_chain(self, app, client, settings):
        """Replicas share nothing but the database: a second engine (its own pool) stands for the second one."""
        from parley.db import create_engine

        other = Database(create_engine(settings.database_url, settings))
        try:

            async def appends(database: Database, tag: str) -> None:
                for index in range(30):
                    async with database.session() as session:
                        record(session, AuditAction.LOGIN, actor_id=None, details={"replica": tag, "i": index})

            await asyncio.gather(appends(app.state.database, "a"), appends(other, "b"), appends(other, "b2"))
        finally:
            await other.dispose()
        rows = await chained_rows(app)
        assert [r[0] for r in rows] == list(range(1, 91))
        result = await verdict(app)
        assert result.ok and result.rows == 90

    async def test_many_rows_of_one_transaction_are_chained_in_the_order_they_were_written(self, app, client):
        database: Database = app.state.database
        async with database.session() as session:
            for index in range(500):
                record(session, AuditAction.QUOTA_WARNING, actor_id=None, details={"i": index})
        await append(app, 1)
        async with database.engine.connect() as connection:
            order = await connection.execute(text("SELECT details->>'i' FROM audit_events ORDER BY seq"))
            assert [row[0] for row in order] == [str(i) for i in range(500)] + [None]
        result = await verdict(app)
        assert result.ok and result.rows == result.head_seq == 501

    async def test_a_row_deleted_before_its_commit_takes_no_place(self, app, client):
        await append(app, 1)
        async with app.state.database.session() as session:
            event = record(session, AuditAction.LOGIN, actor_id=None)
            await session.flush()
            await session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event.id})
        await append(app, 1)
        assert [r[0] for r in await chained_rows(app)] == [1, 2]
        assert (await verdict(app)).ok

    async def test_deleting_a_user_leaves_their_audit_rows_untouched(self, app, client):
        from tests.factories import create_user

        user_id = await create_user(app)
        async with app.state.database.session() as session:
            record(session, AuditAction.PASSWORD_CHANGE, actor_id=user_id)
        await tamper(app, "DELETE FROM users WHERE id = :id", id=user_id)
        result = await verdict(app)
        assert result.ok, result.summary()


class TestTampering:
    async def test_an_edited_row_is_named(self, app, client):
        ids = await append(app, 5)
        await tamper(app, """UPDATE audit_events SET details = '{"n": 2, "ok": false}' WHERE id = :id""", id=ids[2])
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq, result.problem.event_id) == ("edited", 3, str(ids[2]))
        assert result.rows == 2

    async def test_an_edited_timestamp_is_an_edit(self, app, client):
        ids = await append(app, 3)
        await tamper(
            app, "UPDATE audit_events SET created_at = created_at - interval '1 day' WHERE id = :id", id=ids[1]
        )
        result = await verdict(app)
        assert result.problem is not None and (result.problem.kind, result.problem.seq) == ("edited", 2)

    async def test_a_deleted_row_is_named(self, app, client):
        await append(app, 5)
        await tamper(app, "DELETE FROM audit_events WHERE seq = 3")
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq) == ("deleted", 3)
        assert "#3" in result.summary()

    async def test_a_deleted_row_with_the_rest_renumbered_is_found(self, app, client):
        await append(app, 5)
        await tamper(app, "DELETE FROM audit_events WHERE seq = 3")
        await tamper(app, "UPDATE audit_events SET seq = seq - 1 WHERE seq > 3")
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq) == ("deleted", 3)

    async def test_two_swapped_rows_are_reported_as_reordered(self, app, client):
        ids = await append(app, 5)
        await tamper(app, "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 4 ELSE 2 END WHERE seq IN (2, 4)")
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq, result.problem.event_id) == ("reordered", 2, str(ids[3]))

    async def test_a_tail_cut_after_the_last_append_is_truncation(self, app, client):
        await append(app, 5)
        await tamper(app, "DELETE FROM audit_events WHERE seq > 3")
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq) == ("truncated", 4)
        assert "#4 to #5" in result.problem.message

    async def test_a_row_written_with_the_trigger_off_is_unchained(self, app, client):
        await append(app, 2)
        await tamper(
            app,
            "INSERT INTO audit_events (id, action, details) VALUES (gen_random_uuid(), 'auth.login', '{}')",
        )
        # (The trigger chained it at that commit; an intruder who disabled it would leave it bare.)
        await tamper(app, "UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 3")
        await tamper(app, "UPDATE audit_chain_head SET seq = 2")
        result = await verdict(app)
        assert result.problem is not None and result.problem.kind == "unchained"


class TestCheckpoints:
    async def checkpoint(self, app: FastAPI) -> None:
        async with app.state.database.session() as session:
            assert await write_checkpoint(session, app.state.audit_signer) is not None

    async def test_a_checkpoint_is_written_only_when_the_chain_grew(self, app, client):
        await append(app, 2)
        await self.checkpoint(app)
        async with app.state.database.session() as session:
            assert await write_checkpoint(session, app.state.audit_signer) is None
        await append(app, 1)
        await self.checkpoint(app)
        result = await verdict(app)
        assert result.ok and result.checkpoints == 2 and result.verified_checkpoint_seq == 3

    async def test_the_schedule_signs_the_head_while_the_app_runs(self, app, client):
        await append(app, 2)
        schedule = CheckpointSchedule(app.state.database, app.state.audit_signer, interval_seconds=0.05)
        await schedule.start()
        try:
            for _ in range(200):
                result = await verdict(app)
                if result.verified_checkpoint_seq == 2:
                    break
                await asyncio.sleep(0.05)
            await append(app, 1)
            for _ in range(200):
                result = await verdict(app)
                if result.verified_checkpoint_seq == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            await schedule.stop()
        assert result.ok and result.verified_checkpoint_seq == 3
        assert result.checkpoints == 2  # one per growth of the chain, not one per interval

    async def test_a_rewritten_chain_no_longer_matches_the_checkpoint(self, app, client):
        await append(app, 6)
        await self.checkpoint(app)
        # The intruder edits row 2 and recomputes every hash after it, so the links all hold again.
        await tamper(app, """UPDATE audit_events SET details = '{"n": 99}' WHERE seq = 2""")
        await tamper(
            app,
            f"""
            DO $$
            DECLARE r record; previous text;
            BEGIN
                SELECT hash INTO previous FROM audit_events WHERE seq = 1;
                FOR r IN SELECT * FROM audit_events WHERE seq >= 2 ORDER BY seq LOOP
                    UPDATE audit_events SET prev_hash = previous, hash = {chain.hash_sql("r", "previous")}
                    WHERE id = r.id;
                    SELECT hash INTO previous FROM audit_events WHERE id = r.id;
                END LOOP;
                UPDATE audit_chain_head SET hash = previous;
            END $$
            """,
        )
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq) == ("rewritten", 1)
        assert "row #6" in result.problem.message

    async def test_a_tail_cut_behind_a_checkpoint_is_truncation_even_with_the_head_moved_back(self, app, client):
        await append(app, 6)
        await self.checkpoint(app)
        await tamper(app, "DELETE FROM audit_events WHERE seq > 4")
        await tamper(app, "UPDATE audit_chain_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)")
        result = await verdict(app)
        assert result.problem is not None
        assert (result.problem.kind, result.problem.seq) == ("truncated", 5)

    async def test_an_edited_checkpoint_is_refused_a_foreign_one_left_out(self, app, client):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from parley.audit.signing import CheckpointSigner

        await append(app, 3)
        await self.checkpoint(app)
        await tamper(app, "UPDATE audit_checkpoints SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2)")
        result = await verdict(app)
        assert result.problem is not None and result.problem.kind == "checkpoint"
        assert "signature" in result.problem.message

        # A checkpoint signed by a key not trusted here vouches for nothing: left out, and said so.
        await tamper(app, "DELETE FROM audit_checkpoints")
        async with app.state.database.session() as session:
            await write_checkpoint(session, CheckpointSigner(Ed25519PrivateKey.generate()))
        result = await verdict(app)
        assert result.ok and result.untrusted_checkpoints == 1 and result.verified_checkpoint_seq is None
        assert "1 checkpoint(s) signed by keys not trusted here were not used" in result.summary()
        # ... nor can it pass off a cut tail: truncation is judged by trusted checkpoints and the head.
        await tamper(app, "DELETE FROM audit_events WHERE seq = 3")
        result = await verdict(app)
        assert result.problem is not None and result.problem.kind == "truncated"


async def test_the_trigger_hashes_exactly_what_verify_recomputes(app, client):
    """The migration carries a frozen copy of the canonical form: the trigger's hash and the verifier's agree,
    for every kind of value a row holds (NULLs, nested and non-ASCII details, numbers)."""
    async with app.state.database.session() as session:
        record(
            session,
            AuditAction.ADMIN_USER_UPDATE,
            actor_id=uuid.uuid4(),
            target_type="user",
            target_id=uuid.uuid4(),
            ip="2001:db8::1",
            details={"naïve": "ü€😀", "nested": {"b": [1, 2.5, None, True], "a": 'x"y\\z\n'}, "big": 10**20},
        )
        record(session, AuditAction.LOGIN_FAILED, actor_id=None)
    async with app.state.database.engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT hash, {chain.hash_sql('e', 'e.prev_hash')} FROM audit_events e ORDER BY seq")
        )
        pairs = list(rows)
    assert len(pairs) == 2 and all(stored == recomputed for stored, recomputed in pairs)


class TestVerifyCommand:
    """`parley audit verify`: the operator's check, a process of its own against the install's database."""

    async def run(self, settings, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        env = {**os.environ, "DATABASE_URL": settings.database_url, "PARLEY_LOG_LEVEL": "warning"}
        args = [sys.executable, "-m", "parley", "audit", *extra, "--data-dir", str(settings.data_dir)]
        return await asyncio.to_thread(subprocess.run, args, env=env, capture_output=True, text=True, timeout=120)

    async def test_exit_status_and_the_first_bad_row(self, app, client, settings):
        ids = await append(app, 4)
        signed = await self.run(settings, "checkpoint")
        assert signed.returncode == 0, signed.stderr
        assert "signed checkpoint at row #4" in signed.stdout

        intact = await self.run(settings, "verify")
        assert intact.returncode == 0, intact.stderr
        assert intact.stdout.startswith("audit chain verified: 4 rows, up to checkpoint #4")

        await tamper(app, """UPDATE audit_events SET action = 'auth.logout' WHERE id = :id""", id=ids[1])
        broken = await self.run(settings, "verify")
        assert broken.returncode == 1
        first, second = broken.stdout.splitlines()
        assert first.startswith("audit chain broken at row #2: row #2 (auth.logout, ")
        assert first.endswith(f", id {ids[1]}) was edited: its content no longer matches its hash")
        assert second == f"first bad row: seq 2, id {ids[1]} (edited)"
