"""The quota ledger on a Redis Cluster: the tests of tests/quotas/test_ledger, with two replicas' ledgers on the
cluster. An admission touches the user's and each group's keys in one script: they all share one hash tag."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest_asyncio
from fastapi import FastAPI
from redis.asyncio.cluster import RedisCluster

from parley.policy.quotas import GroupBudget
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger
from parley.quotas.redis_ledger import RedisLedger
from parley.redis_client import connect
from tests.quotas import test_ledger
from tests.quotas.test_ledger import terms


@pytest_asyncio.fixture(loop_scope="session")
async def ledgers(
    app: FastAPI, client: object, redis_cluster_url: str, cluster_key_prefix: str
) -> AsyncIterator[list[Ledger]]:
    """Two replicas' ledgers on the cluster, over the test database."""
    load = quotas_service.loader(app.state.database)
    redis = connect(redis_cluster_url, cluster=True)
    prefix = f"{cluster_key_prefix}:ledger-{uuid.uuid4().hex[:8]}"
    yield [RedisLedger(redis, prefix=prefix, load=load, refresh_seconds=0.5) for _ in range(2)]
    await redis.aclose()


class TestAdmissions(test_ledger.TestAdmissions):
    pass


class TestSettling(test_ledger.TestSettling):
    pass


class TestTheRecord(test_ledger.TestTheRecord):
    pass


class TestKeys:
    async def test_an_admission_against_two_group_budgets_touches_one_slot(self, ledgers, redis_cluster_url):
        user_id, groups = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
        budgets = [GroupBudget(group_id, f"group {n}", Decimal("10")) for n, group_id in enumerate(groups)]
        admission = await ledgers[0].admit(user_id, terms(budgets=budgets, usd="1"))
        assert admission.hold_id is not None
        direct = RedisCluster.from_url(redis_cluster_url)
        try:
            keys = [key for subject in (user_id, *groups) async for key in direct.scan_iter(match=f"*:{subject}")]
            assert len(keys) == 6  # the account and the holds of the user and of each group
            assert len({await direct.cluster_keyslot(key) for key in keys}) == 1  # the server's own hashing
        finally:
            await direct.aclose()
