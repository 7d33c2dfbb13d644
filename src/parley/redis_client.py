"""The process's one Redis client (`REDIS_URL`), shared by the relay (`chat.redis_relay`), the quota ledger
(`quotas.redis_ledger`) and the response cache. Imported only when `REDIS_URL` is set: a single Parley process
never loads the Redis client.

With `PARLEY_REDIS_CLUSTER=true` the client is redis-py's `RedisCluster`: `REDIS_URL` names any node of a Redis
Cluster (or a managed one's configuration endpoint) and the client finds the others. Every operation that
touches several keys (a Lua script, a multi-stream read) then keeps them in one hash slot with a hash tag
(`{…}`, `slot_tag`), and nothing builds a key inside a script. Without it, key names are those of earlier
versions (no tags), so replicas of an earlier version share them during a rolling upgrade.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.crc import key_slot

RedisClient = Redis | RedisCluster
"""The process's client: one server (or a sentinel-managed primary behind one address), or a cluster."""

# Connections of the process's command pool (everything but the relay's stream reader), and how long a command
# waits for one when all are busy. Redis runs one command at a time: more would only queue there instead of here.
POOL_CONNECTIONS = 32
POOL_WAIT_SECONDS = 10.0
# On a cluster, connections per node at most. redis-py's cluster pools do not wait for a free connection (past it
# a command fails), so commands wait for one of `POOL_CONNECTIONS` turns in the client instead (`_BoundedCluster`);
# this leaves room beside them for pipelines.
CLUSTER_CONNECTIONS_PER_NODE = 256
# Seconds a Redis reply may take before the connection counts as dead (redis-py's own default, made explicit so
# that blocking reads can stay within it; a `socket_timeout` in REDIS_URL's query wins).
SOCKET_TIMEOUT = 5.0


def connect(url: str, *, cluster: bool = False, timeout: float = SOCKET_TIMEOUT) -> RedisClient:
    """The process's Redis client (a bounded, blocking connection pool; `max_connections` in REDIS_URL's query
    wins), or with `cluster` a Redis Cluster client seeded from the node `url` names; closed with `aclose()`.
    `timeout`: seconds a reply may take."""
    if cluster:
        return _BoundedCluster.from_url(url, socket_timeout=timeout, max_connections=CLUSTER_CONNECTIONS_PER_NODE)
    pool = BlockingConnectionPool.from_url(
        url, socket_timeout=timeout, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS
    )
    return Redis.from_pool(pool)


class _BoundedCluster(RedisCluster):
    """A cluster client whose commands take turns, `POOL_CONNECTIONS` at once, as the single-server client's
    blocking pool makes them: a burst (ten thousand clients resuming at once) waits here instead of opening a
    connection per command and failing past `CLUSTER_CONNECTIONS_PER_NODE`. Pipelines go to the nodes on their
    own (one connection per node per pipeline; a few tasks send them); the relay's blocking stream reads use
    connections of their own (`chat.redis_streams`)."""

    _turns: asyncio.Semaphore | None = None

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            # The slots are mapped once, before any command: redis-py's first commands, sent together before it
            # has, fail now and then (a connection replaced while another command is setting it up).
            await self.initialize()
        if self._turns is None:
            self._turns = asyncio.Semaphore(POOL_CONNECTIONS)
        async with self._turns:
            return await super().execute_command(*args, **kwargs)


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


def connection_options(client: RedisClient) -> dict[str, Any]:
    """The options `client` opens its connections with (host, port, timeouts…)."""
    if isinstance(client, RedisCluster):
        return dict(client.connection_kwargs)
    return dict(client.connection_pool.connection_kwargs)


def socket_timeout(client: RedisClient) -> float | None:
    """Seconds a reply of `client` may take (None: no limit)."""
    timeout = connection_options(client).get("socket_timeout", SOCKET_TIMEOUT)
    return float(timeout) if timeout else None


def describe(client: RedisClient) -> str:
    """Where `client` connects, for an error message (no credentials)."""
    if isinstance(client, RedisCluster):
        nodes = client.get_nodes() or [client.get_default_node()]
        return "the cluster at " + ", ".join(node.name for node in nodes if node is not None)
    options = client.connection_pool.connection_kwargs
    return str(options.get("path") or f"{options.get('host')}:{options.get('port')}")


def connections(client: RedisClient) -> int:
    """Connections `client` holds open now (idle or busy; on a cluster, to every node)."""
    if isinstance(client, RedisCluster):
        return sum(len(node._connections) for node in client.get_nodes())
    return sum(count for count, _ in client.connection_pool.get_connection_count())


def slot_tag(name: str, *, cluster: bool) -> str:
    """`name` as the part of several keys that must share a hash slot: `{name}` on a cluster (Redis hashes only
    what is between the braces), as is otherwise."""
    return f"{{{name}}}" if cluster else name


def slot_of(key: str) -> int:
    """The cluster hash slot of `key` (what `CLUSTER KEYSLOT` answers), computed here."""
    return int(key_slot(key.encode()))


async def run_script(pipe: Any, script: Any, *, keys: list[str], args: list[Any]) -> None:
    """Queue a registered script (`client.register_script`) on a pipeline. A cluster pipeline refuses EVALSHA
    (it cannot load a missing script on the right node mid-pipeline), so there the script's text goes as EVAL."""
    if isinstance(pipe, ClusterPipeline):
        pipe.eval(script.script, len(keys), *keys, *args)
    else:
        await script(keys=keys, args=args, client=pipe)
