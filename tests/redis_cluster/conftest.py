"""Fixtures of the Redis Cluster tests: one three-master cluster per test worker (`cluster.redis_cluster`), and
two replicas (in-process apps, served over HTTP) on it with `PARLEY_REDIS_CLUSTER=true`."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.config import Settings
from tests.conftest import reset_app, running_app, serve
from tests.redis_cluster.cluster import redis_cluster

# How long an answer nobody listens to keeps going (as tests/chat's replicas), unless a module sets its own.
DEFAULT_GRACE_SECONDS = 1.5


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running three-master Redis Cluster; skips (fails under PARLEY_REQUIRE_SERVICES=1) without redis-server."""
    try:
        with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
            yield url
    except FileNotFoundError as exc:
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def cluster_key_prefix(worker_id_name: str) -> str:
    return f"parley-test-{worker_id_name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def cluster_settings(settings: Settings, redis_cluster_url: str, cluster_key_prefix: str) -> Settings:
    """What every replica of a Parley on a Redis Cluster is given."""
    return settings.model_copy(
        update={"redis_url": redis_cluster_url, "redis_cluster": True, "redis_key_prefix": cluster_key_prefix}
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster_app(cluster_settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(cluster_settings) as application:
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster_app_url(cluster_app: FastAPI) -> AsyncIterator[str]:
    async with serve(cluster_app) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster_replica_b(cluster_settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(cluster_settings) as application:
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster_replica_b_url(cluster_replica_b: FastAPI) -> AsyncIterator[str]:
    async with serve(cluster_replica_b) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def replicas(
    request: pytest.FixtureRequest,
    client: object,
    cluster_app: FastAPI,
    cluster_app_url: str,
    cluster_replica_b: FastAPI,
    cluster_replica_b_url: str,
) -> AsyncIterator[tuple[tuple[FastAPI, str], tuple[FastAPI, str]]]:
    """Replica A and B on the cluster, each as (app, HTTP base URL), as tests/chat's `replicas` on one Redis;
    `client` has emptied the shared database."""
    grace = getattr(request.module, "GRACE_SECONDS", DEFAULT_GRACE_SECONDS)
    apps = (cluster_app, cluster_replica_b)
    original = {id(app): app.state.chat_engine.settings.disconnect_grace_seconds for app in apps}
    for app in apps:
        await reset_app(app)
        app.state.chat_engine.settings.disconnect_grace_seconds = grace
    yield (cluster_app, cluster_app_url), (cluster_replica_b, cluster_replica_b_url)
    for app in apps:
        await app.state.chat_engine.runs.cancel_all("test ended")
        app.state.chat_engine.settings.disconnect_grace_seconds = original[id(app)]
