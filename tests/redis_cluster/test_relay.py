"""The relay on a real Redis Cluster (`PARLEY_REDIS_CLUSTER=true`): the replica tests of tests/chat run here too,
on two replicas of the cluster (`conftest.replicas`): an answer running on A resumed through B with
Last-Event-ID, stopped through B, one answer at a time across replicas, a stalled writer fenced off by the one
that took its answer over (the append script refusing it, in a cluster pipeline), and the
sign-in throttle counted on the cluster. Then what is particular to a cluster: where a run's keys live."""

from __future__ import annotations

import uuid

import httpx
from redis.asyncio.cluster import RedisCluster

from parley.chat.redis_relay import CLUSTER_STREAM_SLOTS
from tests.chat import test_fencing, test_replicas
from tests.factories import signed_in_user
from tests.sse import parse_events

CHAT = "/api/v1/chat"
GRACE_SECONDS = 1.5


class TestResumeOnAnotherReplica(test_replicas.TestResumeOnAnotherReplica):
    # Reads the single-server key layout with a single-server client; its cluster form is below.
    test_every_event_is_in_the_stream_then_an_end_marker_and_the_stream_expires = None  # type: ignore[assignment]


class TestStopOnAnotherReplica(test_replicas.TestStopOnAnotherReplica):
    pass


class TestOneAnswerAtATimeAcrossReplicas(test_replicas.TestOneAnswerAtATimeAcrossReplicas):
    pass


class TestSignInThrottleAcrossReplicas(test_replicas.TestSignInThrottleAcrossReplicas):
    pass


class TestAStalledWriterIsFencedOff(test_fencing.TestAStalledWriterIsFencedOff):
    pass


class TestRunKeys:
    async def test_a_runs_stream_and_writer_share_a_hash_tag_and_every_event_is_relayed(self, replicas):
        (app_a, url_a), _ = replicas
        relay = app_a.state.chat_engine.relay
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            response = await via_a.post(CHAT, json={"message": "one two three"}, headers=me.headers)
        events = parse_events(response.text)
        conversation_id = uuid.UUID(events[0].data["conversation_id"])
        key = relay.stream_key(conversation_id)
        tag = f"r{conversation_id.int % CLUSTER_STREAM_SLOTS}"
        assert key == f"{app_a.state.settings.redis_key_prefix}:run:{{{tag}}}:{conversation_id}"
        await relay.flush()
        direct = RedisCluster.from_url(app_a.state.settings.redis_url)
        try:
            # The server's own hashing: both keys of the run's scripts in one slot, the tag's.
            slots = {await direct.cluster_keyslot(name) for name in (key, relay.writer_key(key), f"{{{tag}}}")}
            assert len(slots) == 1
            *relayed, end = await direct.xrange(key)
            writer = await direct.get(relay.writer_key(key))
        finally:
            await direct.aclose()
        assert [int(fields[b"n"]) for _, fields in relayed] == [int(e.id) for e in events]
        assert b"".join(fields[b"e"] for _, fields in relayed).decode() == response.text
        assert end[1] == {b"n": str(len(events) + 1).encode(), b"end": b"1"}
        done = next(e for e in events if e.event == "done").data
        assert writer is not None and writer.decode().startswith(done["message_id"] + "/")
