"""Read replicas (`DATABASE_READ_URL`) against a real streaming standby made with `pg_basebackup -R`.

Proof that a read came from the standby: the standby's WAL replay is paused (`pg_wal_replay_pause()`), a row is
written on the primary behind everyone's back (no user's request), and a read that does not show it was served by
the standby. The user who wrote through the API sees their own write at once all the same (read-your-writes).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from parley.auth.permissions import Role
from parley.config import DatabaseSettings, Settings
from parley.db import Database
from parley.models import Conversation, UsageLog
from parley.read_replica import MemoryWritePositions, ReadReplica, RedisWritePositions
from tests.conftest import _empty_tables, running_app
from tests.factories import SignedIn, signed_in_user
from tests.streaming_standby import StreamingPair, create_streaming_pair, destroy_streaming_pair

CONVERSATIONS = "/api/v1/conversations"
ANALYTICS = "/api/v1/admin/analytics"


@pytest.fixture(scope="session")
def standby_pair() -> Iterator[StreamingPair]:
    pair = create_streaming_pair()
    yield pair
    destroy_streaming_pair(pair)


@pytest.fixture(scope="session")
def replica_settings(settings: Settings, standby_pair: StreamingPair) -> Settings:
    return settings.model_copy(
        update={
            "database_url": standby_pair.primary_url,
            "database_read_url": standby_pair.standby_url,
            # A lag bound far above any test's length: a paused standby keeps serving reads (the proof), except
            # in the test that lowers it.
            "database": DatabaseSettings(
                pool_size=4,
                max_overflow=20,
                read_pool_size=2,
                read_max_overflow=20,
                replica_max_lag_seconds=600,
                replica_check_interval_seconds=0.2,
            ),
        }
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def replica_app(replica_settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(replica_settings) as application:
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def http(replica_app: FastAPI, standby_pair: StreamingPair) -> AsyncIterator[httpx.AsyncClient]:
    await _empty_tables(replica_app)
    await caught_up(replica_app)
    transport = httpx.ASGITransport(app=replica_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        if not standby_pair.standby_running():
            await asyncio.to_thread(standby_pair.start_standby)
        await resume(replica_app)


def replica_of(app: FastAPI) -> ReadReplica:
    database: Database = app.state.database
    assert database.replica is not None
    return database.replica


async def on_standby(app: FastAPI, sql: str) -> object:
    async with replica_of(app).engine.connect() as connection:
        return await connection.scalar(text(sql))


async def pause(app: FastAPI) -> None:
    await on_standby(app, "SELECT pg_wal_replay_pause()")


async def resume(app: FastAPI) -> None:
    await on_standby(app, "SELECT pg_wal_replay_resume()")


async def caught_up(app: FastAPI, *, within: float = 120.0) -> None:
    """Wait until the standby has replayed everything the primary had now and the app reads from it again."""
    database: Database = app.state.database
    async with database.engine.connect() as connection:
        target = int(await connection.scalar(text("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")))
    deadline = time.monotonic() + within
    while True:
        try:
            replayed = await on_standby(app, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
        except (OSError, SQLAlchemyError):  # restarting
            replayed = None
        # A numeric (Decimal): str() may write it as '5.419E+7', which int() cannot read; int() of it is exact.
        if replayed is not None and int(Decimal(str(replayed))) >= target and replica_of(app).serving:
            return
        assert time.monotonic() < deadline, "the standby did not catch up"
        await asyncio.sleep(0.1)


async def behind_their_back(app: FastAPI, *rows: object) -> None:
    """Write on the primary outside any user's request: nobody's reads are owed these rows."""
    database: Database = app.state.database
    async with database.session() as session:
        session.add_all(rows)


async def titles(client: httpx.AsyncClient, user: SignedIn, **params: str) -> list[str]:
    response = await client.get(CONVERSATIONS, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


class TestReadsFromTheStandby:
    async def test_lists_history_and_search_come_from_the_standby(self, replica_app, http):
        reader = await signed_in_user(replica_app, http)
        await caught_up(replica_app)
        await pause(replica_app)
        hidden = Conversation(id=uuid.uuid4(), user_id=reader.id, title="zebra crossing notes")
        await behind_their_back(replica_app, hidden)

        # On the primary, not yet on the (paused) standby: the reader, who wrote nothing, reads the standby.
        assert "zebra crossing notes" not in await titles(http, reader)
        assert await titles(http, reader, q="zebra") == []
        response = await http.get(f"{CONVERSATIONS}/{hidden.id}", headers=reader.headers)
        assert response.status_code == 404
        response = await http.get(f"/api/v1/chat/{hidden.id}/messages", headers=reader.headers)
        assert response.status_code == 404

        await resume(replica_app)
        await caught_up(replica_app)
        assert "zebra crossing notes" in await titles(http, reader)
        assert await titles(http, reader, q="zebra") == ["zebra crossing notes"]
        response = await http.get(f"{CONVERSATIONS}/{hidden.id}", headers=reader.headers)
        assert response.status_code == 200
        response = await http.get(f"/api/v1/chat/{hidden.id}/messages", headers=reader.headers)
        assert response.status_code == 200

    async def test_the_writer_sees_their_new_conversation_at_once_and_others_do_not_wait_for_it(
        self, replica_app, http
    ):
        writer = await signed_in_user(replica_app, http)
        other = await signed_in_user(replica_app, http)
        await caught_up(replica_app)
        await pause(replica_app)
        # Rows nobody's request wrote, one for each: whoever reads the standby does not see theirs.
        await behind_their_back(
            replica_app,
            Conversation(user_id=writer.id, title="writer's unseen"),
            Conversation(user_id=other.id, title="other's unseen"),
        )
        assert await titles(http, writer) == []

        created = await http.post(CONVERSATIONS, json={"title": "my new chat"}, headers=writer.headers)
        assert created.status_code == 201, created.text

        # The writer's reads wait for nothing: the standby has not replayed the write, so they go to the
        # primary (which also has the row written behind their back).
        assert sorted(await titles(http, writer)) == ["my new chat", "writer's unseen"]
        history = await http.get(f"{CONVERSATIONS}/{created.json()['id']}", headers=writer.headers)
        assert history.status_code == 200
        assert history.json()["title"] == "my new chat"
        # Another user still reads the paused standby.
        assert await titles(http, other) == []

        await resume(replica_app)
        await caught_up(replica_app)
        assert await titles(http, other) == ["other's unseen"]

    async def test_a_finished_answer_is_in_the_writers_history_at_once(self, replica_app, http):
        writer = await signed_in_user(replica_app, http)
        await caught_up(replica_app)
        await pause(replica_app)
        answered = await http.post(
            "/api/v1/chat", json={"message": "hello there", "stream": False, "model": "echo"}, headers=writer.headers
        )
        assert answered.status_code == 200, answered.text
        result = answered.json()

        history = await http.get(f"{CONVERSATIONS}/{result['conversation_id']}", headers=writer.headers)
        assert history.status_code == 200
        messages = history.json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["content"] == result["content"] != ""
        assert messages[1]["finish_reason"] == result["finish_reason"]
        page = await http.get(f"/api/v1/chat/{result['conversation_id']}/messages", headers=writer.headers)
        assert page.status_code == 200
        assert [m["content"] for m in page.json()["items"]] == [result["content"], "hello there"]
        assert [c["id"] for c in (await http.get(CONVERSATIONS, headers=writer.headers)).json()["items"]] == [
            result["conversation_id"]
        ]


class TestAnalyticsOnTheStandby:
    async def test_analytics_and_csv_read_the_standby(self, replica_app, http):
        admin = await signed_in_user(replica_app, http, role=Role.ADMIN)
        user = await signed_in_user(replica_app, http)
        await caught_up(replica_app)
        before = await http.get(ANALYTICS, headers=admin.headers)
        assert before.status_code == 200, before.text
        csv_before = await http.get(f"{ANALYTICS}.csv", headers=admin.headers)
        assert csv_before.status_code == 200
        assert csv_before.headers["content-type"].startswith("text/csv")

        await pause(replica_app)
        usage = UsageLog(user_id=user.id, model="echo", prompt_tokens=7, completion_tokens=5, cost_usd=Decimal("1"))
        await behind_their_back(replica_app, usage)
        paused = await http.get(ANALYTICS, headers=admin.headers)
        assert paused.json()["total"] == before.json()["total"]
        assert (await http.get(f"{ANALYTICS}.csv", headers=admin.headers)).text == csv_before.text

        await resume(replica_app)
        await caught_up(replica_app)
        after = await http.get(ANALYTICS, headers=admin.headers)
        assert after.json()["total"]["requests"] == before.json()["total"]["requests"] + 1


class TestFallingBackToThePrimary:
    async def test_a_standby_lagging_past_the_bound_gets_no_reads(self, replica_app, http):
        reader = await signed_in_user(replica_app, http)
        replica = replica_of(replica_app)
        await caught_up(replica_app)
        bound = replica.max_lag_seconds
        replica.max_lag_seconds = 1.0
        try:
            await pause(replica_app)
            await behind_their_back(replica_app, Conversation(user_id=reader.id, title="written while lagging"))
            deadline = time.monotonic() + 60
            while replica.serving:
                assert time.monotonic() < deadline, "a paused standby kept serving past the lag bound"
                await asyncio.sleep(0.1)
            # More than a second behind: the reader's list comes from the primary.
            assert await titles(http, reader) == ["written while lagging"]
        finally:
            replica.max_lag_seconds = bound
            await resume(replica_app)
        await caught_up(replica_app)
        assert replica.serving

    async def test_the_app_keeps_answering_when_the_standby_is_stopped(self, replica_app, http, standby_pair):
        admin = await signed_in_user(replica_app, http, role=Role.ADMIN)
        reader = await signed_in_user(replica_app, http)
        await caught_up(replica_app)
        replica = replica_of(replica_app)
        # The monitor is held still, so the reads below find the standby gone themselves (as a read does that
        # comes before the next check) rather than being told by the monitor.
        monitor = replica._monitor
        assert monitor is not None
        monitor.cancel()
        try:
            await asyncio.to_thread(standby_pair.stop_standby)
            assert replica.serving
            # Written after the standby stopped, by nobody's request: only the primary can show it.
            conversation = Conversation(id=uuid.uuid4(), user_id=reader.id, title="after the standby stopped")
            await behind_their_back(replica_app, conversation)

            assert await titles(http, reader) == ["after the standby stopped"]
            assert not replica.serving
            history = await http.get(f"{CONVERSATIONS}/{conversation.id}", headers=reader.headers)
            assert history.status_code == 200
            assert (await http.get(ANALYTICS, headers=admin.headers)).status_code == 200
            assert (await http.get("/api/v1/knowledge-bases", headers=reader.headers)).status_code == 200
            # A check while it is down keeps reads on the primary.
            await replica.check()
            assert not replica.serving
            assert await titles(http, reader) == ["after the standby stopped"]
        finally:
            replica._monitor = asyncio.create_task(replica._check_forever())
        await asyncio.to_thread(standby_pair.start_standby)
        await caught_up(replica_app)
        assert await titles(http, reader) == ["after the standby stopped"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def replicas_on_redis(
    replica_settings: Settings, redis_url: str, redis_key_prefix: str
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two Parley replicas behind one load balancer, both reading the standby, sharing write positions in Redis."""
    shared = replica_settings.model_copy(update={"redis_url": redis_url, "redis_key_prefix": redis_key_prefix})
    async with running_app(shared) as one, running_app(shared) as two:
        yield one, two


class TestReadYourWritesAcrossReplicas:
    async def test_a_write_on_one_replica_is_read_on_the_other(self, replicas_on_redis, http):
        one, two = replicas_on_redis
        await caught_up(two)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url="http://testserver") as via_one,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url="http://testserver") as via_two,
        ):
            writer = await signed_in_user(one, via_one)
            other = await signed_in_user(one, via_one)
            await caught_up(two)
            await pause(two)
            try:
                await behind_their_back(one, Conversation(user_id=other.id, title="other's unseen"))
                created = await via_one.post(CONVERSATIONS, json={"title": "written on one"}, headers=writer.headers)
                assert created.status_code == 201, created.text

                # The next request lands on the other replica: it knows of the write from Redis.
                assert await titles(via_two, writer) == ["written on one"]
                history = await via_two.get(f"{CONVERSATIONS}/{created.json()['id']}", headers=writer.headers)
                assert history.status_code == 200
                # And it does read the paused standby for everyone else.
                assert await titles(via_two, other) == []
            finally:
                await resume(two)
            await caught_up(two)
            assert await titles(via_two, other) == ["other's unseen"]


class TestStandbysThatCannotServe:
    @pytest.mark.parametrize("standby", ["unreachable", "the primary itself"])
    async def test_parley_starts_and_reads_from_the_primary(self, replica_settings, standby_pair, standby):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        read_url = (
            f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/parley"
            if standby == "unreachable"
            else standby_pair.primary_url  # not in recovery: e.g. a promoted standby, whose data may have parted
        )
        async with running_app(replica_settings.model_copy(update={"database_read_url": read_url})) as app:
            assert not replica_of(app).serving
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client:
                reader = await signed_in_user(app, client)
                await behind_their_back(app, Conversation(user_id=reader.id, title="on the primary"))
                assert await titles(client, reader) == ["on the primary"]
                await replica_of(app).check()
                assert not replica_of(app).serving


class TestSettings:
    def test_database_read_url_is_read_under_its_customary_name(self, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", "postgresql://parley@primary.internal/parley")
        monkeypatch.setenv("DATABASE_READ_URL", "postgres://parley@standby.internal/parley")
        assert Settings().database_read_url == "postgresql+asyncpg://parley@standby.internal/parley"

    def test_a_read_url_without_a_primary_url_is_refused(self, monkeypatch):
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("DATABASE_READ_URL", "postgresql://parley@standby.internal/parley")
        with pytest.raises(ValidationError, match="DATABASE_READ_URL is a standby of DATABASE_URL"):
            Settings()

    def test_a_read_url_that_is_not_postgresql_is_refused(self, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", "postgresql://parley@primary.internal/parley")
        monkeypatch.setenv("DATABASE_READ_URL", "mysql://parley@standby.internal/parley")
        with pytest.raises(ValidationError, match="DATABASE_READ_URL must be a PostgreSQL URL"):
            Settings()


class TestWritePositions:
    async def test_memory_positions_keep_the_latest_write_until_the_standby_has_it(self):
        positions = MemoryWritePositions(ttl_seconds=60)
        user = uuid.uuid4()
        await positions.remember(user, 200)
        await positions.remember(user, 100)  # an earlier commit recorded late
        assert await positions.pending(user) == 200
        await positions.forget(user, replayed=150)
        assert await positions.pending(user) == 200
        await positions.forget(user, replayed=200)
        assert await positions.pending(user) is None

    async def test_redis_positions_are_shared_and_keep_the_latest_write(self, redis_url, redis_key_prefix):
        from redis.asyncio import Redis

        user = uuid.uuid4()
        one = RedisWritePositions(Redis.from_url(redis_url), prefix=redis_key_prefix, ttl_seconds=60)
        other = RedisWritePositions(Redis.from_url(redis_url), prefix=redis_key_prefix, ttl_seconds=60)
        try:
            await one.remember(user, 300)
            await other.remember(user, 250)  # another replica's earlier commit, recorded late
            assert await other.pending(user) == 300
            assert await one.pending(uuid.uuid4()) is None
        finally:
            await one.aclose()
            await other.aclose()
