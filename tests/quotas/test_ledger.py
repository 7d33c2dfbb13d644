"""The live quota ledger, both twins (in-process, and Redis shared by replicas): admissions that race hold no more
than is left, spend and releases count at once, holds of dead writers expire, and the record in PostgreSQL is
what accounts start from and come back to."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.kit.clock import utcnow
from parley.policy.plans import Plan
from parley.policy.quotas import GroupBudget, day_start
from parley.quotas import repository
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Hold, Ledger, MemoryLedger, Spend, Terms
from parley.quotas.redis_ledger import RedisLedger
from parley.redis_client import connect


@pytest_asyncio.fixture(loop_scope="session", params=["in-process", "redis"])
async def ledgers(request: pytest.FixtureRequest, app: FastAPI, client) -> AsyncIterator[list[Ledger]]:
    """Two ledgers over the test database: one process's ledger twice, or two replicas' on one Redis."""
    load = quotas_service.loader(app.state.database)
    if request.param == "in-process":
        ledger = MemoryLedger(load, refresh_seconds=0.5)
        yield [ledger, ledger]
        return
    redis = connect(request.getfixturevalue("redis_url"))
    prefix = f"{request.getfixturevalue('redis_key_prefix')}:ledger-{uuid.uuid4().hex[:8]}"
    yield [RedisLedger(redis, prefix=prefix, load=load, refresh_seconds=0.5) for _ in range(2)]
    await redis.aclose()


def terms(*, tokens_per_day: int | None = None, budgets=(), at_once=None, tokens=100, usd="0", ttl=60.0) -> Terms:
    plan = Plan(tokens_per_day=tokens_per_day, concurrent_answers=at_once, requests_per_minute=None)
    return Terms(plan, tuple(budgets), tokens_estimate=tokens, usd_estimate=Decimal(usd), ttl_seconds=ttl)


async def record_spend(app: FastAPI, subject: uuid.UUID, tokens: int, usd: str = "0") -> None:
    """Spend written to the record by someone who never told this ledger (another process, before it died)."""
    async with app.state.database.session() as session:
        await repository.add_spend(
            session, user_id=subject, day=day_start(utcnow()), tokens=tokens, cost_usd=Decimal(usd)
        )


class TestAdmissions:
    async def test_racing_admissions_hold_exactly_what_is_left(self, ledgers):
        user_id = uuid.uuid4()
        admissions = await asyncio.gather(
            *(ledgers[i % 2].admit(user_id, terms(tokens_per_day=1_000, tokens=100)) for i in range(40))
        )
        held = [admission for admission in admissions if admission.hold_id is not None]
        assert len(held) == 10
        figures = await ledgers[0].figures(user_id, [])
        assert figures.user.reserved_tokens == 1_000 and figures.running == 10

    async def test_an_estimate_is_cut_to_what_is_left(self, ledgers):
        user_id = uuid.uuid4()
        assert (await ledgers[0].admit(user_id, terms(tokens_per_day=250, tokens=200))).hold_id is not None
        cut = await ledgers[1].admit(user_id, terms(tokens_per_day=250, tokens=200))
        assert cut.hold_id is not None and cut.figures.user.reserved_tokens == 200
        assert (await ledgers[0].figures(user_id, [])).user.reserved_tokens == 250

    async def test_answers_at_once_are_counted_per_user(self, ledgers):
        user_id = uuid.uuid4()
        first = await ledgers[0].admit(user_id, terms(at_once=1))
        assert first.hold_id is not None
        busy = await ledgers[1].admit(user_id, terms(at_once=1))
        assert busy.hold_id is None and busy.figures.running == 1
        assert (await ledgers[1].admit(uuid.uuid4(), terms(at_once=1))).hold_id is not None
        await ledgers[1].apply([], [Hold(first.hold_id, user_id, ())])
        assert (await ledgers[0].admit(user_id, terms(at_once=1))).hold_id is not None

    async def test_a_group_budget_is_shared_by_its_members(self, ledgers):
        group = GroupBudget(uuid.uuid4(), "Finance", Decimal("1.00"))
        alice, bob = uuid.uuid4(), uuid.uuid4()
        first = await ledgers[0].admit(alice, terms(budgets=[group], usd="0.75"))
        second = await ledgers[1].admit(bob, terms(budgets=[group], usd="0.75"))
        assert first.hold_id is not None and second.hold_id is not None
        assert second.figures.groups[group.group_id].reserved_usd == Decimal("0.75")
        refused = await ledgers[0].admit(uuid.uuid4(), terms(budgets=[group], usd="0.10"))
        assert refused.hold_id is None
        assert refused.figures.groups[group.group_id].reserved_usd == Decimal("1.00")


class TestSettling:
    async def test_spend_and_release_count_together(self, app, ledgers):
        user_id = uuid.uuid4()
        admission = await ledgers[0].admit(user_id, terms(tokens_per_day=1_000, tokens=300))
        assert admission.hold_id is not None
        await record_spend(app, user_id, 120)
        await ledgers[1].apply([Spend((user_id,), 120, 0)], [Hold(admission.hold_id, user_id, ())])
        figures = await ledgers[0].figures(user_id, [])
        assert figures.user.tokens_today == figures.user.tokens_this_month == 120
        assert figures.user.reserved_tokens == 0 and figures.running == 0

    async def test_a_hold_whose_writer_died_expires(self, ledgers):
        user_id = uuid.uuid4()
        assert (await ledgers[0].admit(user_id, terms(tokens_per_day=100, tokens=100, ttl=0.3))).hold_id
        assert (await ledgers[1].admit(user_id, terms(tokens_per_day=100))).hold_id is None
        await asyncio.sleep(0.4)
        assert (await ledgers[1].admit(user_id, terms(tokens_per_day=100))).hold_id is not None


class TestTheRecord:
    async def test_an_account_starts_from_what_the_record_has(self, app, ledgers):
        user_id = uuid.uuid4()
        await record_spend(app, user_id, 900, "1.25")
        figures = await ledgers[0].figures(user_id, [])
        assert figures.user.tokens_today == 900 and figures.user.usd_this_month == Decimal("1.25")
        cut = await ledgers[1].admit(user_id, terms(tokens_per_day=1_000, tokens=300))
        assert cut.hold_id is not None
        assert (await ledgers[0].figures(user_id, [])).user.reserved_tokens == 100

    async def test_spend_it_was_never_told_of_counts_after_a_refresh(self, app, ledgers):
        user_id = uuid.uuid4()
        assert (await ledgers[0].figures(user_id, [])).user.tokens_today == 0
        await record_spend(app, user_id, 500)
        assert (await ledgers[0].figures(user_id, [])).user.tokens_today == 0  # not yet: the copy is fresh
        await asyncio.sleep(0.6)
        assert (await ledgers[1].figures(user_id, [])).user.tokens_today == 500
