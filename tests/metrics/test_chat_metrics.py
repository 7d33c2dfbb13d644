"""What operators see of chats in /metrics: time to first token, tokens, cost, answers by outcome, provider
failures and fallbacks, streams in flight, and refusals by plan limits."""

from __future__ import annotations

import asyncio

from tests.factories import signed_in_user
from tests.metrics.scrape import Scrape, scrape
from tests.plans.arrange import user_on_plan
from tests.sse import parse_events

CHAT = "/api/v1/chat"


async def _chat(client, headers, **body):
    response = await client.post(CHAT, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def _delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


class TestAnswers:
    async def test_chats_show_time_to_first_token_tokens_cost_and_answers_for_their_model(self, client, app):
        me = await signed_in_user(app, client)
        before = await scrape(client)
        events = [await _chat(client, me.headers, message=f"Hello there number {n}", model="echo") for n in range(2)]

        after = await scrape(client)
        assert _delta(before, after, "parley_chat_time_to_first_token_seconds_count", model="echo") >= 2
        assert _delta(before, after, "parley_chat_answers_total", model="echo", outcome="completed") >= 2
        # Four words each: three gaps between consecutive deltas per answer (titles are not streamed).
        assert _delta(before, after, "parley_chat_inter_token_seconds_count", model="echo") >= 6
        done = [next(e for e in answer if e.event == "done").data for answer in events]
        # The answers' own tokens and cost at least (each first answer's title is billed too).
        output = sum(d["usage"]["completion_tokens"] for d in done)
        prompt = sum(d["usage"]["prompt_tokens"] for d in done)
        assert _delta(before, after, "parley_tokens_total", model="echo", direction="output") >= output
        assert _delta(before, after, "parley_tokens_total", model="echo", direction="input") >= prompt
        cost = sum(float(d["cost"]) for d in done)
        assert _delta(before, after, "parley_cost_usd_total", model="echo") >= cost - 1e-9 > 0

    async def test_a_failing_provider_shows_its_errors_and_the_fallback(self, client, app):
        me = await signed_in_user(app, client)
        before = await scrape(client)
        events = await _chat(client, me.headers, message="are you there", model="failing")
        assert next(e for e in events if e.event == "done").data["model"] == "echo"

        after = await scrape(client)
        # max_retries 1: the call and its retry failed, then the answer moved to echo.
        assert _delta(before, after, "parley_provider_requests_total", model="failing", outcome="error") == 2
        assert _delta(before, after, "parley_provider_retries_total", model="failing") == 1
        assert _delta(before, after, "parley_provider_fallbacks_total", model="failing", fallback="echo") == 1
        assert _delta(before, after, "parley_provider_requests_total", model="echo", outcome="ok") >= 1
        assert _delta(before, after, "parley_chat_answers_total", model="echo", outcome="completed") == 1

    async def test_an_open_circuit_and_a_failed_answer_show(self, client, app):
        me = await signed_in_user(app, client)
        before = await scrape(client)
        for _ in range(3):
            await _chat(client, me.headers, message="x", model="broken-only")

        after = await scrape(client)
        assert after.value("parley_provider_circuit_open", model="broken-only") == 1
        assert _delta(before, after, "parley_chat_answers_total", model="broken-only", outcome="failed") == 3
        app.state.router.breaker("broken-only").success()
        await app.state.metrics.collector.refresh()
        assert (await scrape(client)).value("parley_provider_circuit_open", model="broken-only") == 0


class TestActiveStreams:
    async def test_a_held_stream_counts_until_it_is_stopped(self, client, app):
        me = await signed_in_user(app, client)
        before = (await scrape(client)).value("parley_active_streams")
        question = "Compare these " + " ".join(f"w{n}" for n in range(200))
        stream = asyncio.create_task(client.post(CHAT, json={"message": question, "model": "slow"}, headers=me.headers))
        for _ in range(100):
            streaming = (await scrape(client)).value("parley_active_streams")
            if streaming > before:
                break
            await asyncio.sleep(0.05)
        assert streaming == before + 1
        run = next(iter(app.state.chat_engine.runs.active()))

        stopped = await client.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
        assert stopped.status_code == 200
        await stream
        for _ in range(100):
            now = await scrape(client)
            if now.value("parley_active_streams") == before:
                break
            await asyncio.sleep(0.05)
        assert now.value("parley_active_streams") == before == 0
        assert now.value("parley_chat_answers_total", model="slow", outcome="stopped") >= 1


class TestLimitRefusals:
    async def test_a_429_from_a_plan_limit_shows_in_refusals_and_errors(self, client, app):
        user = await user_on_plan(app, client, "one-a-minute", {"requests_per_minute": 1})
        before = await scrape(client)
        await _chat(client, user.headers, message="first", model="echo")
        refused = await client.post(CHAT, json={"message": "second", "model": "echo"}, headers=user.headers)
        assert refused.status_code == 429

        after = await scrape(client)
        assert _delta(before, after, "parley_limit_refusals_total", limit="rate") == 1
        assert _delta(before, after, "parley_errors_total", code="rate_limited") == 1
        # And the refused request is in the HTTP metrics, under its route.
        assert _delta(before, after, "parley_http_request_duration_seconds_count", route=CHAT, status="429") == 1

    async def test_a_used_up_quota_shows_under_its_limit(self, client, app):
        user = await user_on_plan(app, client, "tiny-day", {"tokens_per_day": 5})
        before = await scrape(client)
        refused = await client.post(CHAT, json={"message": "a question longer than five tokens"}, headers=user.headers)
        assert refused.status_code == 429 and refused.json()["limit"] == "tokens-day"

        after = await scrape(client)
        assert _delta(before, after, "parley_limit_refusals_total", limit="tokens_day") == 1
        assert _delta(before, after, "parley_errors_total", code="quota_exceeded") == 1

    async def test_a_model_outside_the_plan_shows_as_a_model_refusal(self, client, app):
        user = await user_on_plan(app, client, "echo-only", {"models": ["echo"]})
        before = await scrape(client)
        refused = await client.post(CHAT, json={"message": "hi", "model": "cheap"}, headers=user.headers)
        assert refused.status_code == 403

        after = await scrape(client)
        assert _delta(before, after, "parley_limit_refusals_total", limit="model") == 1
