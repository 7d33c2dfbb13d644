"""What users see of their limits (`GET /api/v1/users/me/limits`): their plan's quotas with what is used, held and
left and when each comes back, their requests per minute, answers at once, largest upload and models; raised by
their groups and drawn on their groups' shared budgets; nothing to count for a plan without quotas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update

from parley.auth.permissions import Role
from parley.models import Group, GroupMember, UsageLog, User
from tests.factories import SignedIn, assert_problem, signed_in_user
from tests.plans.arrange import user_on_plan
from tests.sse import parse_events

LIMITS = "/api/v1/users/me/limits"
CHAT = "/api/v1/chat"

LIMITED = {
    "requests_per_minute": 5,
    "concurrent_answers": 2,
    "tokens_per_day": 10_000,
    "tokens_per_month": 100_000,
    "usd_budget_per_month": 2.5,
    "max_upload_mib": 7,
    "models": ["echo"],
}


async def _chat(client, user: SignedIn, message: str) -> dict:
    response = await client.post(CHAT, json={"message": message, "stream": False}, headers=user.headers)
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


# A daily quota a new conversation's first short answer fits in (with room held for its title), leaving enough for
# the long question of `_use_up_the_day` but not for the whole of its echo.
TINY_DAY = 800


async def _use_up_the_day(client, user: SignedIn) -> list:
    """Two answers in one conversation; the second stops at the daily quota (`finish_reason: length`), using it
    up. The second answer's events."""
    first = await _chat(client, user, "hello there")
    response = await client.post(
        CHAT,
        json={"message": " ".join(["go"] * 500), "conversation_id": first["conversation_id"]},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def _by_name(limits: dict) -> dict[str, dict]:
    return {quota["name"]: quota for quota in limits["quotas"]}


def _next_midnight() -> datetime:
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)


class TestAfterUsage:
    async def test_each_quota_shows_what_a_chat_used_and_what_is_left(self, app, client, session):
        user = await user_on_plan(app, client, "team", LIMITED)
        before = (await client.get(LIMITS, headers=user.headers)).json()
        assert before["plan"] == "team"
        assert _by_name(before)["tokens-day"]["used"] == 0 and _by_name(before)["tokens-day"]["left"] == 10_000

        answer = await _chat(client, user, "count these words for me please " * 20)

        response = await client.get(LIMITS, headers=user.headers)
        assert response.status_code == 200, response.text
        limits = response.json()
        # Every token the user spent (the answer, and the title written for the new conversation).
        spent = await session.scalar(
            select(func.sum(UsageLog.prompt_tokens + UsageLog.completion_tokens)).where(UsageLog.user_id == user.id)
        )
        cost = await session.scalar(select(func.sum(UsageLog.cost_usd)).where(UsageLog.user_id == user.id))
        assert spent >= answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"] > 0
        quotas = _by_name(limits)
        assert list(quotas) == ["tokens-day", "tokens-month", "usd-month"]
        day = quotas["tokens-day"]
        assert (day["unit"], day["limit"], day["used"], day["reserved"]) == ("tokens", 10_000, spent, 0)
        assert day["left"] == 10_000 - spent
        assert day["fraction_used"] == round(spent / 10_000, 4)
        assert datetime.fromisoformat(day["resets_at"]) == _next_midnight()
        assert quotas["tokens-month"]["used"] == spent and quotas["tokens-month"]["left"] == 100_000 - spent
        assert datetime.fromisoformat(quotas["tokens-month"]["resets_at"]).day == 1
        usd = quotas["usd-month"]
        # Dollars to the cent, as JSON numbers.
        assert usd["unit"] == "usd" and usd["limit"] == 2.5
        assert usd["used"] == float(Decimal(cost).quantize(Decimal("0.01")))
        assert isinstance(usd["left"], float) and usd["left"] == round(2.5 - float(cost), 2)
        assert all(quota["group_name"] is None for quota in limits["quotas"])

        # One chat request of five this minute; no answer being written now.
        rate = limits["requests_per_minute"]
        assert (rate["limit"], rate["remaining"]) == (5, 4)
        assert (
            datetime.now(UTC) < datetime.fromisoformat(rate["resets_at"]) <= datetime.now(UTC) + timedelta(seconds=61)
        )
        assert limits["concurrent_answers"] == {"limit": 2, "running": 0}
        assert limits["max_upload_mib"] == 7 and limits["models"] == ["echo"]

    async def test_a_used_up_quota_shows_nothing_left_and_the_chat_is_refused_with_its_reset(self, app, client):
        user = await user_on_plan(app, client, "tiny-day", {"tokens_per_day": TINY_DAY})
        await _use_up_the_day(client, user)

        day = _by_name((await client.get(LIMITS, headers=user.headers)).json())["tokens-day"]
        assert (day["used"], day["left"], day["fraction_used"]) == (TINY_DAY, 0, 1.0)

        refused = assert_problem(await client.post(CHAT, json={"message": "more"}, headers=user.headers), 429)
        assert refused["limit"] == "tokens-day" and refused["type"].endswith("quota_exceeded")
        assert datetime.fromisoformat(refused["resets_at"]) == datetime.fromisoformat(day["resets_at"])

    async def test_an_api_key_reads_its_owners_limits(self, app, client):
        user = await user_on_plan(app, client, "team", LIMITED)
        await _chat(client, user, "hello")
        created = await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=user.headers)
        key = {"Authorization": f"Bearer {created.json()['key']}"}

        by_key = (await client.get(LIMITS, headers=key)).json()
        signed_in = (await client.get(LIMITS, headers=user.headers)).json()
        assert by_key["plan"] == "team" and by_key["quotas"] == signed_in["quotas"]
        assert by_key["quotas"][0]["used"] > 0


class TestGroupsAndOverrides:
    # Groups and overrides are arranged directly in the database (as admins' API would store them).
    async def test_a_groups_shared_budget_is_listed_with_its_name_and_its_raise_applies(self, app, client, session):
        user = await user_on_plan(app, client, "team", LIMITED)
        group_id = uuid.uuid4()
        name = f"research {group_id.hex[:6]}"
        limits = {"shared_usd_budget_per_month": 1500.0, "tokens_per_day": 50_000}
        session.add(Group(id=group_id, name=name, limits=limits))
        await session.flush()
        session.add(GroupMember(group_id=group_id, user_id=user.id))
        await session.commit()

        found = (await client.get(LIMITS, headers=user.headers)).json()

        quotas = _by_name(found)
        # The group's more generous daily quota wins over the plan's.
        assert quotas["tokens-day"]["limit"] == 50_000
        shared = quotas["group-usd-month"]
        assert shared["group_id"] == str(group_id) and shared["group_name"] == name
        assert (shared["unit"], shared["limit"], shared["left"]) == ("usd", 1500.0, 1500.0)

    async def test_a_personal_override_shows_instead_of_the_plan(self, app, client, session):
        user = await user_on_plan(app, client, "team", LIMITED)
        overrides = {"tokens_per_day": None, "requests_per_minute": 1}
        await session.execute(update(User).where(User.id == user.id).values(limits=overrides))
        await session.commit()

        found = (await client.get(LIMITS, headers=user.headers)).json()
        assert "tokens-day" not in _by_name(found)
        assert found["requests_per_minute"]["limit"] == 1


class TestWithoutQuotas:
    async def test_an_enterprise_user_has_no_quotas_and_every_model(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        moved = await client.patch(
            f"/api/v1/admin/users/{user.id}", json={"subscription_tier": "enterprise"}, headers=admin.headers
        )
        assert moved.status_code == 200, moved.text
        await _chat(client, user, "hello")

        found = (await client.get(LIMITS, headers=user.headers)).json()
        assert found["plan"] == "enterprise"
        assert found["quotas"] == []
        assert found["requests_per_minute"]["limit"] == 300 and found["requests_per_minute"]["remaining"] == 299
        assert found["concurrent_answers"] == {"limit": 10, "running": 0}
        assert found["models"] is None and found["max_upload_mib"] == 200

    async def test_a_plan_without_any_limit_shows_nulls(self, app, client):
        user = await user_on_plan(app, client, "open", {})
        found = (await client.get(LIMITS, headers=user.headers)).json()
        assert found["quotas"] == [] and found["requests_per_minute"] is None
        assert found["concurrent_answers"] == {"limit": None, "running": 0}
        assert found["max_upload_mib"] is None and found["models"] is None

    async def test_nobody_signed_in_is_401(self, client):
        assert_problem(await client.get(LIMITS), 401)


class TestLimitNoticeInHistory:
    async def test_an_answer_cut_at_the_quota_keeps_its_notice_in_the_conversation(self, app, client):
        user = await user_on_plan(app, client, "tiny-day", {"tokens_per_day": TINY_DAY})
        events = await _use_up_the_day(client, user)
        [done] = [event for event in events if event.event == "done"]
        assert done.data["finish_reason"] == "length"
        notice = done.data["limit"]
        assert notice["limit"] == "tokens-day" and "daily token quota" in notice["message"]

        conversation_id = events[0].data["conversation_id"]
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=user.headers)).json()
        assert detail["messages"][-1]["metadata"]["limit"] == notice
        page = (await client.get(f"{CHAT}/{conversation_id}/messages", headers=user.headers)).json()
        assert page["items"][0]["metadata"]["limit"] == notice
