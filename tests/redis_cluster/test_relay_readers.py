"""300 clients on one replica following 30 answers generated on another, on a Redis Cluster: every reader gets
its whole answer, and the reading replica's connections stay bounded (tests/chat/test_relay_readers)."""

from __future__ import annotations

import pytest

from parley.redis_client import POOL_CONNECTIONS
from tests.chat import test_relay_readers

GRACE_SECONDS = test_relay_readers.GRACE_SECONDS


@pytest.fixture(autouse=True)
def _cluster_connection_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cluster the bound is per node: the commands' turns (`POOL_CONNECTIONS` at once, as on one server; a
    node's pool keeps the connections it opened, so up to that many on each of the 3 nodes), plus one reading
    connection per hash slot read (30 streams: at most 30 slots) and the pipelines of the flusher, heartbeats and
    wake-ups (one connection per node each). Still none per reader: 300 readers."""
    bound = POOL_CONNECTIONS * 3 + test_relay_readers.ANSWERS + 3 * 3
    monkeypatch.setattr(test_relay_readers, "POOL_CONNECTIONS", bound - 4)


class TestManyRemoteReaders(test_relay_readers.TestManyRemoteReaders):
    pass
