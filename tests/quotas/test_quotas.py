"""Token quotas, budgets and answers at once: what a user on a plan can spend, how an answer is cut at what is
left, how reservations settle however an answer ends, and the alerts admins get."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from sqlalchemy import func, select, text, update

from parley.auth.permissions import Role
from parley.models import AuditEvent, Conversation, Group, GroupMember, Job, LimitRefusal, Message
from parley.models import User as UserRow
from parley.plans import service as plans_service
from parley.quotas.ledger import Terms
from tests.conftest import running_app
from tests.factories import assert_problem, signed_in_user
from tests.plans.arrange import PLANS, user_on_plan
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"


def words(count: int) -> str:
    return " ".join(f"w{i}" for i in range(count))


async def chat(client, user, message: str, **body):
    return await client.post(CHAT, json={"message": message, **body}, headers=user.headers)


async def spent_tokens(session, user_id: uuid.UUID) -> int:
    await session.commit()  # a fresh snapshot: the answers committed in other sessions
    total = await session.scalar(
        text("SELECT coalesce(sum(tokens), 0) FROM quota_counters WHERE subject_id = :s"), {"s": user_id}
    )
    return int(total)


async def live_holds(app, user_id: uuid.UUID) -> int:
    """How many answers of the user hold quota in the ledger now (being written, or left by a dead process)."""
    return (await app.state.quota_ledger.figures(user_id, [])).running


async def plan_of(app, user_id: uuid.UUID):
    async with app.state.database.session() as session:
        user = await session.get(UserRow, user_id)
        return await plans_service.plan_for_user(session, user, seeds=app.state.plan_seeds)


def next_utc_midnight() -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)


async def set_plan(app, client, name: str, limits: dict[str, object]) -> None:
    """An admin (re)defines a plan: its users' next requests see the new limits."""
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    assert (await client.put(f"{PLANS}/{name}", json=limits, headers=admin.headers)).status_code in (200, 201)


async def titled_conversation(client, user) -> str:
    """A conversation with one answer and its title: later answers in it reserve nothing for a title."""
    first = await chat(client, user, "hello")
    assert first.status_code == 200, first.text
    return parse_events(first.text)[0].data["conversation_id"]


class TestDailyTokenQuota:
    async def test_answers_count_against_the_quota_until_it_refuses_with_when_it_comes_back(self, twin, session):
        app, client = twin.app, twin.client
        user = await user_on_plan(app, client, "tokens-3000", {"tokens_per_day": 3000})
        first = await chat(client, user, words(10))
        assert first.status_code == 200, first.text
        assert answer_text(parse_events(first.text)) == words(10)
        # The ledger has what the usage log has: the answer, its prompt, and its title.
        logged = await session.scalar(
            text("SELECT sum(prompt_tokens + completion_tokens) FROM usage_logs WHERE user_id = :u"), {"u": user.id}
        )
        assert await spent_tokens(session, user.id) == logged > 20

        await set_plan(app, client, "tokens-3000", {"tokens_per_day": int(logged)})
        conversations_before = await session.scalar(select(func.count()).select_from(Conversation))
        refused = await chat(client, user, "one more")
        problem = assert_problem(refused, 429)
        assert problem["type"].endswith("quota_exceeded")
        assert problem["limit"] == "tokens-day" and problem["quota"] == logged
        assert "daily token quota" in problem["detail"] and "used up" in problem["detail"]
        assert problem["left"] == 0
        assert datetime.fromisoformat(problem["resets_at"]) == next_utc_midnight()
        assert int(refused.headers["Retry-After"]) == problem["retry_after"] > 0
        # Nothing was saved for the refused message.
        assert await session.scalar(select(func.count()).select_from(Conversation)) == conversations_before

    async def test_a_request_whose_prompt_does_not_fit_what_is_left_is_refused_saying_so(self, app, client, session):
        user = await user_on_plan(app, client, "tokens-fit", {"tokens_per_day": 100_000})
        conversation_id = await titled_conversation(client, user)
        used = await spent_tokens(session, user.id)
        await set_plan(app, client, "tokens-fit", {"tokens_per_day": used + 20})
        problem = assert_problem(await chat(client, user, words(100), conversation_id=conversation_id), 429)
        assert problem["limit"] == "tokens-day" and "has 20 tokens left, too little" in problem["detail"]
        assert problem["left"] == 20

    async def test_an_answer_is_cut_at_what_is_left_and_says_why(self, twin, session):
        app, client = twin.app, twin.client
        user = await user_on_plan(app, client, "tokens-cut", {"tokens_per_day": 100_000})
        conversation_id = await titled_conversation(client, user)
        used = await spent_tokens(session, user.id)
        # 170 tokens left: the prompt (system prompt, the first turn, 80 words) takes about 125, so the echo of
        # the 80 words is cut at the rest.
        await set_plan(app, client, "tokens-cut", {"tokens_per_day": used + 170})
        message = " ".join(["a"] * 80)
        response = await chat(client, user, message, conversation_id=conversation_id)
        assert response.status_code == 200, response.text
        events = parse_events(response.text)
        done = next(event for event in events if event.event == "done")
        assert done.data["finish_reason"] == "length"
        written = answer_text(events)
        assert 0 < len(written.split()) < 80 and message.startswith(written)
        assert done.data["limit"]["limit"] == "tokens-day"
        assert "daily token quota" in done.data["limit"]["message"]
        assert datetime.fromisoformat(done.data["limit"]["resets_at"]) == next_utc_midnight()
        stored = await session.scalar(
            select(Message).where(Message.role == "assistant").order_by(Message.created_at.desc()).limit(1)
        )
        assert stored.finish_reason == "length" and stored.extra["limit"]["limit"] == "tokens-day"
        # It spent exactly what was left.
        assert await spent_tokens(session, user.id) == used + 170

        assert_problem(await chat(client, user, "more", conversation_id=conversation_id), 429)

    async def test_a_non_streamed_answer_carries_the_notice_too(self, app, client, session):
        user = await user_on_plan(app, client, "tokens-cut-whole", {"tokens_per_day": 100_000})
        conversation_id = await titled_conversation(client, user)
        used = await spent_tokens(session, user.id)
        await set_plan(app, client, "tokens-cut-whole", {"tokens_per_day": used + 170})
        response = await chat(client, user, " ".join(["a"] * 80), conversation_id=conversation_id, stream=False)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["finish_reason"] == "length" and body["limit"]["limit"] == "tokens-day"


class TestReservations:
    async def test_a_finished_answer_leaves_no_reservation(self, twin, session):
        app, client = twin.app, twin.client
        user = await user_on_plan(app, client, "reserving", {"tokens_per_day": 10_000})
        assert (await chat(client, user, "hello there")).status_code == 200
        assert await live_holds(app, user.id) == 0

    async def test_a_stopped_answer_settles_to_what_it_wrote(self, twin, session):
        app, client, live_url = twin.app, twin.client, twin.live_url
        user = await user_on_plan(app, client, "stopping", {"tokens_per_day": 10_000})
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=30) as http,
            http.stream("POST", CHAT, json={"message": words(200), "model": "slow"}, headers=user.headers) as stream,
        ):
            conversation_id = None
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and "conversation_id" in line and conversation_id is None:
                    conversation_id = json.loads(line[6:])["conversation_id"]
                if line.startswith("event: delta"):
                    break
            assert await live_holds(app, user.id) == 1
            stopped = await http.post(f"{CHAT}/{conversation_id}/stop", headers=user.headers)
            assert stopped.status_code == 200, stopped.text
        assert stopped.json()["finish_reason"] == "cancelled"
        for _ in range(50):
            if await live_holds(app, user.id) == 0:
                break
            await asyncio.sleep(0.1)
        assert await live_holds(app, user.id) == 0
        written = len(stopped.json()["content"].split())
        assert 0 < written < 200
        # What it spent is what it wrote (and its prompt and title), as the usage log has it.
        logged = await session.scalar(
            text("SELECT sum(prompt_tokens + completion_tokens) FROM usage_logs WHERE user_id = :u"), {"u": user.id}
        )
        completion = await session.scalar(
            text("SELECT max(completion_tokens) FROM usage_logs WHERE user_id = :u AND model = 'slow'"), {"u": user.id}
        )
        assert await spent_tokens(session, user.id) == logged and completion == written

    async def test_an_attempt_the_provider_refused_costs_nothing(self, app, client, session):
        user = await user_on_plan(app, client, "refused", {"tokens_per_day": 10_000})
        response = await chat(client, user, "hello", model="broken-only")
        assert response.status_code == 200
        assert any(event.event == "error" for event in parse_events(response.text))
        assert await spent_tokens(session, user.id) == 0
        assert await live_holds(app, user.id) == 0

    async def test_a_hold_left_by_a_dead_replica_counts_until_it_expires(self, redis_app, session):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=redis_app), base_url="http://testserver")
        async with client:
            user = await user_on_plan(redis_app, client, "crashed", {"tokens_per_day": 1_000})
            # What a replica that died mid-answer leaves in Redis: a hold on the whole quota, never settled.
            plan = await plan_of(redis_app, user.id)
            dead = await redis_app.state.quota_ledger.admit(
                user.id, Terms(plan.plan, (), tokens_estimate=1_000, usd_estimate=Decimal(0), ttl_seconds=1.5)
            )
            assert dead.hold_id is not None
            problem = assert_problem(await chat(client, user, "hello"), 429)
            assert problem["limit"] == "tokens-day" and problem["left"] == 0
            await asyncio.sleep(1.6)
            assert (await chat(client, user, "hello")).status_code == 200

    async def test_concurrent_requests_overspend_by_at_most_one_answer(self, twin, session):
        app, client = twin.app, twin.client
        user = await user_on_plan(app, client, "racing", {"tokens_per_day": 100_000})
        conversations = [await titled_conversation(client, user) for _ in range(12)]
        used = await spent_tokens(session, user.id)
        # Room for about three of the twelve answers below (each about 80 prompt + 30 answer tokens).
        await set_plan(app, client, "racing", {"tokens_per_day": used + 330})
        responses = await asyncio.gather(
            *(chat(client, user, words(30), conversation_id=c, max_tokens=40) for c in conversations)
        )
        admitted = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert admitted and refused and len(admitted) + len(refused) == 12
        # At most one answer's estimate (its prompt and 40 output tokens, well under 200) beyond the limit.
        assert await spent_tokens(session, user.id) <= used + 330 + 200


class TestAnswersAtOnce:
    async def test_a_second_answer_while_one_is_written_is_refused_with_a_retry(self, twin, session):
        app, client, live_url = twin.app, twin.client, twin.live_url
        user = await user_on_plan(app, client, "one-at-a-time", {"concurrent_answers": 1})
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=30) as http,
            http.stream("POST", CHAT, json={"message": words(100), "model": "slow"}, headers=user.headers) as stream,
        ):
            async for line in stream.aiter_lines():
                if line.startswith("event: delta"):
                    break
            second = await chat(client, user, "meanwhile")
            problem = assert_problem(second, 429)
            assert problem["type"].endswith("rate_limited") and problem["limit"] == "concurrent-answers"
            assert int(second.headers["Retry-After"]) >= 1
        # The first ended (the client left and the answer was stopped or finished): a new one is admitted.
        for _ in range(100):
            if await live_holds(app, user.id) == 0:
                break
            await asyncio.sleep(0.1)
        assert (await chat(client, user, "now")).status_code == 200


class TestBudgets:
    async def test_the_monthly_budget_refuses_once_spent(self, app, client, session):
        # echo costs 0.5 USD per 1k prompt tokens and 1.5 per 1k output tokens: about 2 USD per answer here.
        user = await user_on_plan(app, client, "budget", {"usd_budget_per_month": 5})
        for _ in range(10):
            response = await chat(client, user, words(1000))
            if response.status_code == 429:
                break
            assert response.status_code == 200, response.text
        problem = assert_problem(response, 429)
        assert problem["limit"] == "usd-month" and problem["quota"] == 5
        assert "monthly budget" in problem["detail"]
        await session.commit()
        spent = await session.scalar(text("SELECT sum(cost_usd) FROM usage_logs WHERE user_id = :u"), {"u": user.id})
        # Refused once what is left could not pay for the next answer's estimate; never past the budget by more
        # than one answer's estimate.
        assert Decimal(2) <= spent <= Decimal(5) + Decimal("2.5")

    async def test_a_groups_shared_budget_stops_every_member_once_spent(self, twin, session):
        app, client = twin.app, twin.client
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        group_id = uuid.uuid4()
        session.add(Group(id=group_id, name="Finance", limits={"shared_usd_budget_per_month": 0.01}))
        await session.flush()
        session.add_all(
            [GroupMember(group_id=group_id, user_id=alice.id), GroupMember(group_id=group_id, user_id=bob.id)]
        )
        await session.commit()
        assert admin  # the group is an admin's; arranged directly here

        while (response := await chat(client, alice, words(50), max_tokens=50)).status_code == 200:
            pass
        problem = assert_problem(response, 429)
        assert problem["limit"] == "group-usd-month" and "Finance" in problem["detail"]
        assert problem["group_name"] == "Finance"
        problem = assert_problem(await chat(client, bob, "hello"), 429)
        assert problem["limit"] == "group-usd-month"


class TestOverrides:
    async def test_a_users_own_value_wins_and_a_groups_more_generous_value_applies(self, app, client, session):
        user = await user_on_plan(app, client, "tiny-quota", {"tokens_per_day": 5})
        assert_problem(await chat(client, user, words(20)), 429)
        group_id = uuid.uuid4()
        session.add(Group(id=group_id, name="Power users", limits={"tokens_per_day": 100_000}))
        await session.flush()
        session.add(GroupMember(group_id=group_id, user_id=user.id))
        await session.commit()
        assert (await chat(client, user, words(20))).status_code == 200

        # An explicit per-user value wins over the group's more generous one.
        await session.execute(update(UserRow).where(UserRow.id == user.id).values(limits={"tokens_per_day": 10}))
        await session.commit()
        problem = assert_problem(await chat(client, user, words(20)), 429)
        assert problem["limit"] == "tokens-day" and problem["quota"] == 10


class TestAlerts:
    async def test_crossing_80_and_100_percent_writes_each_event_once_and_audits_it(self, twin, session):
        app, client = twin.app, twin.client
        user = await user_on_plan(app, client, "alerting", {"tokens_per_day": 100_000})
        conversation_id = await titled_conversation(client, user)
        used = await spent_tokens(session, user.id)
        # 85 % used: the next answer's settlement notices.
        await set_plan(app, client, "alerting", {"tokens_per_day": int(used / 0.85) + 500})
        assert (await chat(client, user, "hi", conversation_id=conversation_id)).status_code == 200
        used = await spent_tokens(session, user.id)
        limit = used + 170
        await set_plan(app, client, "alerting", {"tokens_per_day": limit})
        cut = await chat(client, user, " ".join(["a"] * 80), conversation_id=conversation_id)
        assert next(e for e in parse_events(cut.text) if e.event == "done").data["finish_reason"] == "length"
        assert_problem(await chat(client, user, "hi", conversation_id=conversation_id), 429)

        await session.commit()
        events = (await session.scalars(select(Job).where(Job.kind == "event").order_by(Job.created_at))).all()
        types = [job.payload["type"] for job in events]
        assert types == ["quota.warning", "quota.exceeded"]
        warning, exceeded = (job.payload["data"] for job in events)
        assert warning["user_id"] == str(user.id) and warning["limit"] == "tokens-day"
        assert warning["threshold"] == "0.8" and exceeded["threshold"] == "1"
        assert exceeded["limit_value"] == str(limit) and exceeded["used"] == str(limit)
        audited = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.in_(["quota.warning", "quota.exceeded"]))
            )
        ).all()
        assert sorted(audited) == ["quota.exceeded", "quota.warning"]


class TestRefusalsCounted:
    async def test_each_refusal_is_counted_per_limit_for_the_analytics(self, app, client, session):
        user = await user_on_plan(app, client, "counted", {"tokens_per_day": 0})
        for _ in range(3):
            assert_problem(await chat(client, user, "hi"), 429)
        await session.commit()
        counted = await session.scalar(
            select(LimitRefusal.count).where(LimitRefusal.user_id == user.id, LimitRefusal.limit_name == "tokens-day")
        )
        assert counted == 3


class TestOnV1:
    async def test_a_used_up_quota_is_insufficient_quota_for_openai_clients(self, app, client, live_url):
        user = await user_on_plan(app, client, "v1-quota", {"tokens_per_day": 0})
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=user.access_token, max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as caught:
                await sdk.chat.completions.create(
                    model="echo", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            assert caught.value.code == "insufficient_quota"

    async def test_a_completion_is_cut_at_what_is_left_with_finish_reason_length(self, twin, session):
        app, client, live_url = twin.app, twin.client, twin.live_url
        user = await user_on_plan(app, client, "v1-cut", {"tokens_per_day": 60})
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=user.access_token, max_retries=0)
        whole = await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": words(30)}])
        assert whole.choices[0].finish_reason == "length"
        assert 0 < len(whole.choices[0].message.content.split()) < 30
        assert whole.model_extra["limit"]["limit"] == "tokens-day"
        assert await live_holds(app, user.id) == 0

        other = await user_on_plan(app, client, "v1-cut-stream", {"tokens_per_day": 60})
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=other.access_token, max_retries=0)
        chunks = [
            chunk
            async for chunk in await sdk.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": words(30)}], stream=True
            )
        ]
        finish = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
        assert finish[-1].choices[0].finish_reason == "length"
        assert finish[-1].model_extra["limit"]["limit"] == "tokens-day"


class TestUnderLoad:
    async def test_first_chats_of_many_users_at_once_are_all_answered_on_a_small_pool(self, settings, client):
        # Each first chat loads its user's account into the ledger while its request holds a connection: with
        # more chats than connections, a load that took a connection of its own would wait for ever (500).
        small = settings.model_copy(
            update={"database": settings.database.model_copy(update={"pool_size": 3, "max_overflow": 0})}
        )
        async with running_app(small) as app:
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
            async with http:
                users = [await user_on_plan(app, http, "loaded", {"tokens_per_day": 100_000}) for _ in range(8)]
                responses = await asyncio.wait_for(
                    asyncio.gather(*(chat(http, user, "hello", stream=False) for user in users)), timeout=60
                )
        assert [response.status_code for response in responses] == [200] * 8
