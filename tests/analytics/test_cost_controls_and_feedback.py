"""The analytics' figures about cost controls and users' opinions: cost saved by the response cache, requests refused
by limits, plan changes, and satisfaction from the thumbs up / down users give answers."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent, Conversation, Group, GroupMember, LimitRefusal, Message, UsageLog, User
from tests.factories import create_user, sign_in, signed_in_user

ANALYTICS = "/api/v1/admin/analytics"
RANGE = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-30T00:00:00Z"}


def at(day: int, hour: int = 10, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def usage(user_id, conversation_id, model, when, cost, *, saved="0"):
    return UsageLog(
        id=uuid.uuid4(),
        user_id=user_id,
        conversation_id=conversation_id,
        model=model,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=Decimal(cost),
        cache_hit=Decimal(saved) > 0,
        saved_usd=Decimal(saved),
        ttft_ms=100,
        latency_ms=1000,
        created_at=when,
    )


def exchange(conversation_id, model, when):
    """A question and its finished answer; returns the answer last."""
    return [
        Message(id=uuid.uuid4(), conversation_id=conversation_id, role="user", content="q", created_at=when),
        Message(
            id=uuid.uuid4(),
            conversation_id=conversation_id,
            role="assistant",
            content="a",
            model=model,
            finish_reason="stop",
            created_at=when,
        ),
    ]


def refused(user_id, day, limit_name, count):
    return LimitRefusal(day=day, user_id=user_id, limit_name=limit_name, count=count)


async def rate(client, headers, message: Message, rating: str, comment: str | None = None) -> None:
    body = {"rating": rating} if comment is None else {"rating": rating, "comment": comment}
    response = await client.put(f"/api/v1/messages/{message.id}/feedback", json=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture
async def world(app, client, session):
    """Alice (pro, Finance) asks twice in June, the second answer from the cache; she rates the first answer up
    and the second down. Bob (free, Finance and Sales) gets a cached answer on 29 June and rates it up. Dave only
    ever hits limits. Carol's activity is in May, before the range. Refusals: Alice 3 on 2 June (tokens per day)
    and 2 on 10 June (requests per minute), Bob 1 on 29 June, Dave 4 on 15 June; outside the range Carol 9 on
    31 May and Bob 7 on 30 June (the range ends at its start)."""
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    alice = await signed_in_user(app, client, email="alice@acme.test")
    bob = await signed_in_user(app, client, email="bob@acme.test")
    carol = await signed_in_user(app, client, email="carol@acme.test")
    dave = await create_user(app, email="dave@acme.test")
    (await session.get(User, alice.id)).subscription_tier = "pro"
    finance, sales = Group(id=uuid.uuid4(), name="Finance"), Group(id=uuid.uuid4(), name="Sales")
    c1, c2, c3 = (Conversation(id=uuid.uuid4(), user_id=u.id) for u in (alice, bob, carol))
    session.add_all([finance, sales, c1, c2, c3])
    await session.flush()
    alice_first, alice_second = exchange(c1.id, "echo", at(2)), exchange(c1.id, "echo", at(3))
    bobs, carols = exchange(c2.id, "cheap", at(29, 12)), exchange(c3.id, "echo", at(1, month=5))
    session.add_all(
        [
            GroupMember(group_id=finance.id, user_id=alice.id),
            GroupMember(group_id=finance.id, user_id=bob.id),
            GroupMember(group_id=sales.id, user_id=bob.id),
            usage(alice.id, c1.id, "echo", at(2), "0.10"),
            usage(alice.id, c1.id, "echo", at(3), "0", saved="0.10"),
            usage(bob.id, c2.id, "cheap", at(29, 12), "0", saved="0.05"),
            usage(carol.id, c3.id, "echo", at(1, month=5), "0", saved="9.99"),
            *alice_first,
            *alice_second,
            *bobs,
            *carols,
            refused(alice.id, date(2026, 6, 2), "tokens_per_day", 3),
            refused(alice.id, date(2026, 6, 10), "requests_per_minute", 2),
            refused(bob.id, date(2026, 6, 29), "tokens_per_day", 1),
            refused(dave, date(2026, 6, 15), "usd_budget_per_month", 4),
            refused(carol.id, date(2026, 5, 31), "tokens_per_day", 9),
            refused(bob.id, date(2026, 6, 30), "tokens_per_day", 7),
        ]
    )
    await session.commit()
    await rate(client, alice.headers, alice_first[-1], "up")
    await rate(client, alice.headers, alice_second[-1], "down", "stale answer")
    await rate(client, bob.headers, bobs[-1], "up")
    await rate(client, carol.headers, carols[-1], "down")
    return admin


async def get_report(client, admin, group_by, params=RANGE):
    response = await client.get(ANALYTICS, params={**params, "group_by": group_by}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


def by_key(report):
    return {p["key"]: p for p in report["series"]}


class TestCacheSavings:
    async def test_saved_cost_in_total_and_per_key(self, client, world):
        report = await get_report(client, world, "user")
        total = report["total"]
        assert Decimal(total["saved_usd"]) == Decimal("0.15") and total["cache_hits"] == 2
        # what was spent is unchanged by what was saved
        assert Decimal(total["cost_usd"]) == Decimal("0.10")
        users = by_key(report)
        assert Decimal(users["alice@acme.test"]["saved_usd"]) == Decimal("0.10")
        assert Decimal(users["bob@acme.test"]["saved_usd"]) == Decimal("0.05")
        assert users["dave@acme.test"]["cache_hits"] == 0 and Decimal(users["dave@acme.test"]["saved_usd"]) == 0
        models = by_key(await get_report(client, world, "model"))
        assert Decimal(models["cheap"]["saved_usd"]) == Decimal("0.05")


class TestRefusals:
    async def test_total_and_per_limit(self, client, world):
        total = (await get_report(client, world, "day"))["total"]
        assert total["refused"] == 10
        assert total["refused_by_limit"] == {
            "requests_per_minute": 2,
            "tokens_per_day": 4,
            "usd_budget_per_month": 4,
        }

    async def test_per_day_user_and_group(self, client, world):
        days = by_key(await get_report(client, world, "day"))
        assert days["2026-06-02"]["refused"] == 3 and days["2026-06-03"]["refused"] == 0
        # a day with refusals but no usage is still a key of the series
        assert days["2026-06-15"]["refused_by_limit"] == {"usd_budget_per_month": 4}
        assert days["2026-06-15"]["requests"] == 0
        assert "2026-06-30" not in days
        users = by_key(await get_report(client, world, "user"))
        assert {email: p["refused"] for email, p in users.items()} == {
            "alice@acme.test": 5,
            "bob@acme.test": 1,
            "dave@acme.test": 4,
        }
        groups = by_key(await get_report(client, world, "group"))
        # Dave is in no group; Bob's refusal counts for each of his departments
        assert {name: p["refused"] for name, p in groups.items()} == {"Finance": 6, "Sales": 1, None: 4}

    async def test_not_applicable_per_model(self, client, world):
        report = await get_report(client, world, "model")
        assert all(p["refused"] is None and p["refused_by_limit"] == {} for p in report["series"])
        assert report["total"]["refused"] == 10


class TestSatisfaction:
    async def test_thumbs_and_share_up(self, client, world):
        report = await get_report(client, world, "user")
        total = report["total"]
        # Carol's rated answer is from May: not counted
        assert (total["thumbs_up"], total["thumbs_down"]) == (2, 1)
        assert total["satisfaction"] == pytest.approx(2 / 3)
        users = by_key(report)
        assert users["alice@acme.test"]["satisfaction"] == 0.5
        assert users["bob@acme.test"]["satisfaction"] == 1.0
        assert users["dave@acme.test"]["satisfaction"] is None
        models = by_key(await get_report(client, world, "model"))
        assert (models["echo"]["thumbs_up"], models["echo"]["thumbs_down"]) == (1, 1)

    async def test_withdrawn_rating_no_longer_counts(self, client, app, world, session):
        bob = await sign_in(client, "bob@acme.test")
        answer_id = await session.scalar(
            select(Message.id).where(Message.model == "cheap", Message.role == "assistant")
        )
        response = await client.delete(
            f"/api/v1/messages/{answer_id}/feedback", headers={"Authorization": f"Bearer {bob['access_token']}"}
        )
        assert response.status_code == 204
        total = (await get_report(client, world, "day"))["total"]
        assert (total["thumbs_up"], total["thumbs_down"]) == (1, 1)

    async def test_null_without_feedback(self, client, world):
        empty = {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}
        total = (await get_report(client, world, "day", empty))["total"]
        assert total["satisfaction"] is None and (total["thumbs_up"], total["thumbs_down"]) == (0, 0)
        assert total["refused"] == 0 and total["refused_by_limit"] == {} and Decimal(total["saved_usd"]) == 0


class TestPlanChanges:
    async def test_counted_per_from_and_to(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        users = [await create_user(app) for _ in range(3)]
        for user_id, tier in ((users[0], "pro"), (users[1], "pro"), (users[2], "enterprise"), (users[0], "free")):
            response = await client.patch(
                f"/api/v1/admin/users/{user_id}", json={"subscription_tier": tier}, headers=admin.headers
            )
            assert response.status_code == 200, response.text
        # neither a cost-centre change nor a change before the range is a plan change of the range
        await client.patch(f"/api/v1/admin/users/{users[1]}", json={"cost_centre": "CC-7"}, headers=admin.headers)
        session.add(
            AuditEvent(
                action="admin.user_update",
                actor_id=admin.id,
                details={"subscription_tier": {"from": "free", "to": "pro"}},
                created_at=datetime.now(UTC) - timedelta(days=40),
            )
        )
        await session.commit()
        report = await get_report(client, admin, "day", {})
        assert report["plan_changes"] == [
            {"from_plan": "free", "to_plan": "pro", "count": 2},
            {"from_plan": "free", "to_plan": "enterprise", "count": 1},
            {"from_plan": "pro", "to_plan": "free", "count": 1},
        ]
        past = {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}
        assert (await get_report(client, admin, "day", past))["plan_changes"] == []


class TestCsv:
    async def test_new_figures_are_columns(self, client, world):
        response = await client.get(f"{ANALYTICS}.csv", params={**RANGE, "group_by": "user"}, headers=world.headers)
        assert response.status_code == 200
        rows = {row["user"]: row for row in csv.DictReader(io.StringIO(response.text))}
        alice = rows["alice@acme.test"]
        assert Decimal(alice["saved_usd"]) == Decimal("0.10") and alice["cache_hits"] == "1"
        assert alice["refused"] == "5"
        assert (alice["refused:tokens_per_day"], alice["refused:requests_per_minute"]) == ("3", "2")
        assert rows["dave@acme.test"]["refused:tokens_per_day"] == "0"
        assert (alice["thumbs_up"], alice["thumbs_down"], alice["satisfaction"]) == ("1", "1", "0.5")
        assert rows["dave@acme.test"]["satisfaction"] == ""
        assert "refused_by_limit" not in alice

    async def test_per_model_refusals_are_empty(self, client, world):
        response = await client.get(f"{ANALYTICS}.csv", params={**RANGE, "group_by": "model"}, headers=world.headers)
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {row["model"] for row in rows} == {"echo", "cheap"}
        assert all(row["refused"] == "" for row in rows)
