"""Several replicas behind a load balancer: two apps (A = `redis_app`, B = `replica_b`) with the same settings,
each with its own lifespan, on one database and one Redis. An answer started on A is resumed and stopped through
B, and sign-in failures counted on A throttle on B. Also: without REDIS_URL, Parley never loads a Redis client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import httpx
import redis.asyncio
from sqlalchemy import func, update

from parley.models import Message
from tests.factories import PASSWORD, assert_problem, create_user, signed_in_user
from tests.sse import answer_text, collect, parse_events

CHAT = "/api/v1/chat"
GRACE_SECONDS = 1.5
LOGIN = "/api/v1/auth/login"


async def _start_slowly(http: httpx.AsyncClient, headers, text: str, *, deltas: int) -> list:
    """Start a slow answer on `http`'s replica, read the first `deltas` deltas, then drop the connection."""
    seen = ""
    async with http.stream("POST", CHAT, json={"message": text, "model": "slow"}, headers=headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            seen += chunk
            if seen.count("event: delta") >= deltas:
                break
    return parse_events(seen.rsplit("\n\n", 1)[0] + "\n\n")


class TestResumeOnAnotherReplica:
    async def test_reconnecting_to_b_gets_exactly_the_rest_of_an_answer_running_on_a(self, replicas, session):
        (app_a, url_a), (_, url_b) = replicas
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            text = " ".join(f"t{n}" for n in range(100))  # ~4 s at 25 tokens/s: well past the grace
            before = await _start_slowly(via_a, me.headers, text, deltas=5)
        conversation_id, last_id = before[0].data["conversation_id"], before[-1].id
        await asyncio.sleep(0.2)
        assert not app_a.state.chat_engine.runs.get(uuid.UUID(conversation_id)).finished
        async with (
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
            via_b.stream(
                "GET", f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": last_id}
            ) as response,
        ):
            assert response.status_code == 200
            after = await collect(response)

        assert [int(e.id) for e in after] == list(range(int(last_id) + 1, int(last_id) + 1 + len(after)))
        assert answer_text(before) + answer_text(after) == text
        # B's heartbeats kept A from cancelling the answer whose first client had gone.
        done = next(e for e in after if e.event == "done").data
        assert done["finish_reason"] == "stop"
        assert after[-1].event in ("done", "title")
        stored = await session.get(Message, uuid.UUID(done["message_id"]))
        assert stored.content == text and stored.finish_reason == "stop"

    async def test_resuming_on_b_lives_through_a_silence_longer_than_the_redis_socket_timeout(self, replicas, session):
        """A model silent for 10 s before its first token (a slow model, retrieval, a fallback): B's reader blocks
        on the Redis stream meanwhile, and must not take the quiet for a dead connection (redis-py's socket
        timeout is 5 s) and cut its client off."""
        (app_a, url_a), (_, url_b) = replicas
        text = "after a long think"
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            seen = ""
            async with via_a.stream("POST", CHAT, json={"message": text, "model": "quiet"}, headers=me.headers) as sent:
                async for chunk in sent.aiter_text():
                    seen += chunk
                    if "\n\n" in seen:  # the `message` event: the answer is running, its tokens 10 s away
                        break
        before = parse_events(seen.split("\n\n", 1)[0] + "\n\n")
        assert [e.event for e in before] == ["message"]
        conversation_id = before[0].data["conversation_id"]
        async with (
            httpx.AsyncClient(base_url=url_b, timeout=30) as via_b,
            via_b.stream(
                "GET", f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": before[-1].id}
            ) as response,
        ):
            assert response.status_code == 200
            after = await collect(response)
        assert answer_text(after) == text
        done = next(e for e in after if e.event == "done").data
        assert done["finish_reason"] == "stop"
        stored = await session.get(Message, uuid.UUID(done["message_id"]))
        assert stored.content == text and stored.finish_reason == "stop"

    async def test_when_the_reader_on_b_leaves_too_the_answer_is_cancelled_after_the_grace(self, replicas, session):
        (app_a, url_a), (_, url_b) = replicas
        text = " ".join(f"t{n}" for n in range(200))
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            before = await _start_slowly(via_a, me.headers, text, deltas=2)
        conversation_id = uuid.UUID(before[0].data["conversation_id"])
        async with (
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
            via_b.stream(
                "GET", f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": before[-1].id}
            ) as response,
        ):
            seen = ""
            async for chunk in response.aiter_text():
                seen += chunk
                if seen.count("event: delta") >= 45:  # ~1.8 s: longer than the grace on its own
                    break
        run = app_a.state.chat_engine.runs.get(conversation_id)
        assert not run.finished
        await asyncio.wait_for(run.done.wait(), timeout=GRACE_SECONDS + 5)
        stored = await session.get(Message, run.message_id)
        assert stored.finish_reason == "cancelled" and 0 < len(stored.content) < len(text)

    async def test_every_event_is_in_the_stream_then_an_end_marker_and_the_stream_expires(
        self, replicas, redis_settings
    ):
        (app_a, url_a), _ = replicas
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            response = await via_a.post(CHAT, json={"message": "one two three"}, headers=me.headers)
        events = parse_events(response.text)
        key = f"{redis_settings.redis_key_prefix}:run:{events[0].data['conversation_id']}"
        async with redis.asyncio.Redis.from_url(redis_settings.redis_url) as direct:
            await app_a.state.chat_engine.relay.flush()
            entries = await direct.xrange(key)
            ttl_ms = await direct.pttl(key)
        *relayed, end = entries
        assert [int(fields[b"n"]) for _, fields in relayed] == [int(e.id) for e in events]
        assert b"".join(fields[b"e"] for _, fields in relayed).decode() == response.text
        assert end[1] == {b"n": str(len(events) + 1).encode(), b"end": b"1"}
        assert 0 < ttl_ms <= app_a.state.settings.llm.replay_retention_seconds * 1000


class TestStopOnAnotherReplica:
    async def test_stop_through_b_cancels_the_run_on_a_and_keeps_the_partial_answer(self, replicas, session):
        (app_a, url_a), (_, url_b) = replicas
        long_message = " ".join(f"w{n}" for n in range(200))
        async with (
            httpx.AsyncClient(base_url=url_a, timeout=10) as via_a,
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
        ):
            me = await signed_in_user(app_a, via_a)
            stream = asyncio.create_task(
                via_a.post(CHAT, json={"message": long_message, "model": "slow"}, headers=me.headers)
            )
            await asyncio.sleep(0.5)
            run = next(iter(app_a.state.chat_engine.runs.active()))
            started = asyncio.get_running_loop().time()
            stopped = await via_b.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
            assert asyncio.get_running_loop().time() - started < 2.0
            events = parse_events((await stream).text)

        assert stopped.status_code == 200, stopped.text
        partial = answer_text(events)
        assert 0 < len(partial) < len(long_message)
        assert stopped.json() == {"message_id": str(run.message_id), "finish_reason": "cancelled", "content": partial}
        assert run.cancel_reason == "stopped"
        assert next(e for e in events if e.event == "done").data["finish_reason"] == "cancelled"
        stored = await session.get(Message, run.message_id)
        assert stored.content == partial and stored.finish_reason == "cancelled"

    async def test_stop_and_resume_through_b_check_ownership(self, replicas):
        (app_a, url_a), (_, url_b) = replicas
        async with (
            httpx.AsyncClient(base_url=url_a, timeout=10) as via_a,
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
        ):
            me = await signed_in_user(app_a, via_a)
            stranger = await signed_in_user(app_a, via_a)
            stream = asyncio.create_task(
                via_a.post(CHAT, json={"message": "x " * 100, "model": "slow"}, headers=me.headers)
            )
            await asyncio.sleep(0.3)
            run = next(iter(app_a.state.chat_engine.runs.active()))
            assert_problem(await via_b.get(f"{CHAT}/{run.conversation_id}/stream", headers=stranger.headers), 404)
            assert_problem(await via_b.post(f"{CHAT}/{run.conversation_id}/stop", headers=stranger.headers), 404)
            assert not run.finished
            await via_b.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
            await stream
        assert run.finished and run.cancel_reason == "stopped"


class TestOneAnswerAtATimeAcrossReplicas:
    async def test_b_refuses_a_second_answer_while_a_is_writing_one_and_accepts_once_it_stopped(
        self, replicas, session
    ):
        (app_a, url_a), (_, url_b) = replicas
        async with (
            httpx.AsyncClient(base_url=url_a, timeout=10) as via_a,
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
        ):
            me = await signed_in_user(app_a, via_a)
            stream = asyncio.create_task(
                via_a.post(CHAT, json={"message": "w " * 200, "model": "slow"}, headers=me.headers)
            )
            await asyncio.sleep(0.5)
            run = next(iter(app_a.state.chat_engine.runs.active()))
            conversation = str(run.conversation_id)
            # Longer than a checkpoint interval: B judges by the answer's checkpoints, not by a lucky moment.
            await asyncio.sleep(app_a.state.chat_engine.settings.checkpoint_interval_seconds + 0.5)

            follow_up = {"message": "and another thing", "conversation_id": conversation, "stream": False}
            problem = assert_problem(await via_b.post(CHAT, json=follow_up, headers=me.headers), 409)
            assert "still being generated" in problem["detail"]
            assert_problem(await via_b.post(f"{CHAT}/{conversation}/regenerate", json={}, headers=me.headers), 409)
            assert_problem(await via_b.delete(f"{CHAT}/messages/{run.message_id}", headers=me.headers), 409)
            assert not run.finished  # nothing B refused touched A's answer

            await via_b.post(f"{CHAT}/{conversation}/stop", headers=me.headers)
            await stream
            accepted = await via_b.post(CHAT, json=follow_up, headers=me.headers)
            assert accepted.status_code == 200, accepted.text
        stored = await session.get(Message, run.message_id)
        assert stored.finish_reason == "cancelled"

    async def test_an_answer_left_unfinished_by_a_crashed_replica_does_not_block_the_conversation(
        self, replicas, session
    ):
        (app_a, url_a), _ = replicas
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            first = await via_a.post(CHAT, json={"message": "hello", "stream": False}, headers=me.headers)
            conversation = first.json()["conversation_id"]
            # As a replica that died mid-answer leaves it: unfinished, its last checkpoint older than a live
            # answer's (10 s here) but not yet stale (30 s): a sweep taking it over meanwhile would continue it,
            # and then it would rightly be an answer being written.
            await session.execute(
                update(Message)
                .where(Message.id == uuid.UUID(first.json()["message_id"]))
                .values(finish_reason=None, updated_at=func.now() - timedelta(seconds=20))
            )
            await session.commit()
            again = await via_a.post(
                CHAT,
                json={"message": "still there?", "conversation_id": conversation, "stream": False},
                headers=me.headers,
            )
        assert again.status_code == 200, again.text


class TestSignInThrottleAcrossReplicas:
    async def test_a_burst_of_failures_on_a_throttles_the_account_on_b(self, replicas):
        (app_a, url_a), (_, url_b) = replicas
        email = f"target-{uuid.uuid4().hex[:8]}@example.com"
        await create_user(app_a, email=email)
        failures = app_a.state.settings.auth.login_failures_per_account
        async with (
            httpx.AsyncClient(base_url=url_a, timeout=10) as via_a,
            httpx.AsyncClient(base_url=url_b, timeout=10) as via_b,
        ):
            for _ in range(failures):
                wrong = await via_a.post(LOGIN, json={"email": email, "password": "not the password"})
                assert wrong.status_code == 401
            throttled = await via_b.post(LOGIN, json={"email": email, "password": PASSWORD})
        assert_problem(throttled, 429)
        assert int(throttled.headers["retry-after"]) > 0


class TestInProcessTwin:
    def test_without_redis_url_no_redis_client_is_ever_imported(self, settings, tmp_path):
        """A whole start and stop of an in-process Parley, in a fresh interpreter."""
        script = textwrap.dedent(
            """
            import asyncio, json, sys
            from parley.app import create_app

            async def main():
                app = create_app()
                async with app.router.lifespan_context(app):
                    relay = type(app.state.chat_engine.relay).__name__
                loaded = sorted(name for name in sys.modules if name.split(".")[0] == "redis")
                print(json.dumps({"relay": relay, "redis": loaded}))

            asyncio.run(main())
            """
        )
        env = {name: value for name, value in os.environ.items() if "REDIS" not in name}
        env.update(
            DATABASE_URL=settings.database_url,
            PARLEY_MODELS=str(settings.models_file),
            PARLEY_DATA_DIR=str(tmp_path),
            PARLEY_AUTH__JWT_SECRET=settings.auth.jwt_secret.get_secret_value(),
            PARLEY_CRYPTO__KEYS=settings.crypto.keys.get_secret_value(),
            PARLEY_ENVIRONMENT="test",
            PARLEY_LOG_LEVEL="warning",
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == {"relay": "InProcessRelay", "redis": []}
