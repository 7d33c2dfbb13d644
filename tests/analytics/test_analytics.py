"""Admin analytics and chargeback: figures computed over a known set of usage rows, answers and users."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import Conversation, Group, GroupMember, Message, UsageLog, User
from tests.factories import assert_problem, create_user, signed_in_user

ANALYTICS = "/api/v1/admin/analytics"
RANGE = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-30T00:00:00Z"}
FORMULA = '=HYPERLINK("http://evil.test","x")'


def at(day: int, hour: int = 10, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def usage(user_id, conversation_id, model, when, prompt, completion, cost, ttft, latency):
    return UsageLog(
        id=uuid.uuid4(),
        user_id=user_id,
        conversation_id=conversation_id,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=Decimal(cost),
        ttft_ms=ttft,
        latency_ms=latency,
        created_at=when,
    )


def exchange(conversation_id, model, when, finish):
    """A question and its answer, saved together as the chat engine does."""
    return [
        Message(id=uuid.uuid4(), conversation_id=conversation_id, role="user", content="q", created_at=when),
        Message(
            id=uuid.uuid4(),
            conversation_id=conversation_id,
            role="assistant",
            content="a",
            model=model,
            finish_reason=finish,
            created_at=when,
        ),
    ]


@pytest.fixture
async def world(app, client, session):
    """Alice (pro, Finance) chats on 2 June and again 8 days later (one answer failed); Bob (free, Finance and
    Sales, a cost centre that is a spreadsheet formula) once on 29 June; Carol only in May, before the range."""
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    alice = await create_user(app, email="alice@acme.test")
    bob = await create_user(app, email="bob@acme.test")
    carol = await create_user(app, email="carol@acme.test")
    for user_id, cost_centre in ((alice, "CC-1 Finance"), (bob, FORMULA)):
        response = await client.patch(
            f"/api/v1/admin/users/{user_id}", json={"cost_centre": cost_centre}, headers=admin.headers
        )
        assert response.status_code == 200 and response.json()["cost_centre"] == cost_centre
    (await session.get(User, alice)).subscription_tier = "pro"
    finance, sales = Group(id=uuid.uuid4(), name="Finance"), Group(id=uuid.uuid4(), name="Sales")
    c1, c2, c3 = (Conversation(id=uuid.uuid4(), user_id=u) for u in (alice, bob, carol))
    session.add_all([finance, sales, c1, c2, c3])
    await session.flush()
    session.add_all(
        [
            GroupMember(group_id=finance.id, user_id=alice),
            GroupMember(group_id=finance.id, user_id=bob),
            GroupMember(group_id=sales.id, user_id=bob),
            usage(alice, c1.id, "echo", at(2), 100, 50, "0.10", 100, 1000),
            usage(alice, c1.id, "echo", at(10), 200, 100, "0.20", 300, 3000),
            usage(bob, c2.id, "cheap", at(29, 12), 10, 5, "0.01", 200, 2000),
            usage(carol, c3.id, "echo", at(1, month=5), 999, 999, "9.99", 1, 1),
            *exchange(c1.id, "echo", at(2), "stop"),
            *exchange(c1.id, "echo", at(10), "error"),
            *exchange(c2.id, "cheap", at(29, 12), "stop"),
            *exchange(c3.id, "echo", at(1, month=5), "stop"),
        ]
    )
    await session.commit()
    return admin


async def get_report(client, admin, group_by):
    response = await client.get(ANALYTICS, params={**RANGE, "group_by": group_by}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestFigures:
    async def test_totals_of_the_range(self, client, world):
        report = await get_report(client, world, "day")
        total = report["total"]
        assert total["active_users"] == 2
        assert total["conversations"] == 2
        assert total["requests"] == 3
        assert (total["prompt_tokens"], total["completion_tokens"], total["total_tokens"]) == (310, 155, 465)
        assert Decimal(total["cost_usd"]) == Decimal("0.31")
        assert Decimal(total["cost_per_conversation_usd"]) == Decimal("0.155")
        assert (total["messages"], total["answers"], total["failed_answers"]) == (6, 3, 1)
        assert total["error_rate"] == pytest.approx(1 / 3)
        # Alice was back 8 days after her first visit, Bob never was.
        assert (total["retained_7d"], total["retained_30d"]) == (1, 0)
        assert total["retention_7d"] == 0.5
        # percentile_cont over 100, 200, 300 ms: the median and the interpolated 95th.
        assert total["ttft_p50_ms"] == 200 and total["ttft_p95_ms"] == pytest.approx(290)
        assert total["latency_p50_ms"] == 2000 and total["latency_p95_ms"] == pytest.approx(2900)

    async def test_active_users_at_the_ranges_end(self, client, world):
        report = await get_report(client, world, "day")
        # Bob on the 29th is daily and weekly; Alice (10 June) only monthly; Carol (May) is past 30 days.
        assert report["active"] == {"dau": 1, "wau": 1, "mau": 2}

    async def test_by_day_and_week(self, client, world):
        days = (await get_report(client, world, "day"))["series"]
        assert [(p["key"], Decimal(p["cost_usd"])) for p in days] == [
            ("2026-06-02", Decimal("0.10")),
            ("2026-06-10", Decimal("0.20")),
            ("2026-06-29", Decimal("0.01")),
        ]
        assert [p["failed_answers"] for p in days] == [0, 1, 0]
        weeks = (await get_report(client, world, "week"))["series"]
        assert [p["key"] for p in weeks] == ["2026-06-01", "2026-06-08", "2026-06-29"]

    async def test_by_model_has_latency_percentiles_and_error_rate(self, client, world):
        models = {p["key"]: p for p in (await get_report(client, world, "model"))["series"]}
        assert set(models) == {"echo", "cheap"}
        echo = models["echo"]
        assert echo["requests"] == 2 and echo["answers"] == 2 and echo["error_rate"] == 0.5
        assert echo["ttft_p50_ms"] == 200 and echo["latency_p95_ms"] == pytest.approx(2900)
        assert models["cheap"]["messages"] == 1 and models["cheap"]["error_rate"] == 0

    async def test_by_user_plan_group_and_cost_centre(self, client, world):
        def costs(report):
            return {p["key"]: Decimal(p["cost_usd"]) for p in report["series"]}

        assert costs(await get_report(client, world, "user")) == {
            "alice@acme.test": Decimal("0.30"),
            "bob@acme.test": Decimal("0.01"),
        }
        assert costs(await get_report(client, world, "plan")) == {"pro": Decimal("0.30"), "free": Decimal("0.01")}
        # Bob is in both groups: each department sees his spend; the totals count it once.
        groups = await get_report(client, world, "group")
        assert costs(groups) == {"Finance": Decimal("0.31"), "Sales": Decimal("0.01")}
        assert Decimal(groups["total"]["cost_usd"]) == Decimal("0.31")
        assert costs(await get_report(client, world, "cost_centre")) == {
            "CC-1 Finance": Decimal("0.30"),
            FORMULA: Decimal("0.01"),
        }

    async def test_empty_range_has_zero_totals(self, client, world):
        response = await client.get(
            ANALYTICS, params={"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}, headers=world.headers
        )
        body = response.json()
        assert body["series"] == [] and body["total"]["cost_usd"] in ("0", 0, "0.0")
        assert body["total"]["error_rate"] is None and body["total"]["cost_per_conversation_usd"] is None


class TestChargebackCsv:
    async def test_csv_per_cost_centre_neutralises_formulas(self, client, world):
        response = await client.get(
            f"{ANALYTICS}.csv", params={**RANGE, "group_by": "cost_centre"}, headers=world.headers
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        by_key = {row["cost_centre"]: row for row in rows}
        assert set(by_key) == {"CC-1 Finance", "'" + FORMULA}
        assert Decimal(by_key["CC-1 Finance"]["cost_usd"]) == Decimal("0.30")
        assert by_key["CC-1 Finance"]["total_tokens"] == "450"
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


class TestCostCentre:
    async def test_admin_sets_lists_and_clears_it_audited(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await create_user(app, email="dana@acme.test")
        url = f"/api/v1/admin/users/{user}"
        assert (await client.patch(url, json={"cost_centre": "CC-9"}, headers=admin.headers)).status_code == 200
        listed = (await client.get("/api/v1/admin/users", params={"q": "dana"}, headers=admin.headers)).json()
        assert listed["items"][0]["cost_centre"] == "CC-9"
        # Changing something else keeps it; null clears it.
        kept = await client.patch(url, json={"subscription_tier": "pro"}, headers=admin.headers)
        assert kept.json()["cost_centre"] == "CC-9"
        cleared = await client.patch(url, json={"cost_centre": None}, headers=admin.headers)
        assert cleared.json()["cost_centre"] is None
        assert (await session.scalar(select(User.cost_centre).where(User.id == user))) is None
        assert_problem(await client.patch(url, json={"cost_centre": "x" * 101}, headers=admin.headers), 422)


class TestBadInput:
    @pytest.mark.parametrize(
        "params",
        [
            {"from": "2026-06-30T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
            {"group_by": "planet"},
            {"from": "2025-01-01T00:00:00Z", "to": "2026-02-05T00:00:00Z"},
            {"from": "2026-06-01T00:00:00"},
        ],
    )
    async def test_refused_with_422(self, client, app, params):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        assert_problem(await client.get(ANALYTICS, params=params, headers=admin.headers), 422)
        assert_problem(await client.get(f"{ANALYTICS}.csv", params=params, headers=admin.headers), 422)

    async def test_not_for_users(self, client, app):
        user = await signed_in_user(app, client)
        assert_problem(await client.get(ANALYTICS, headers=user.headers), 403)
