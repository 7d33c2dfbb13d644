"""What a user sees of their limits in a real browser: on a plan with a tiny daily token quota, the sidebar meter
shows what is left and moves after each answer, the chat header shows the conversation's context gauge, an answer
cut at the quota says so, and once the quota is used up the meter and a refused message say which limit it is and
when it comes back."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e

# A new conversation's first answer holds back room for its title; what is left after it holds the long question
# below but not the whole of its echo, so that answer stops at the quota.
DAILY_TOKENS = 800


@pytest.fixture(scope="module")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Reset times show in the browser's time zone: pinned, so the test knows the words to expect.
    return {**browser_context_args, "timezone_id": "UTC"}


def _user_on_tiny_plan(base_url: str) -> str:
    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    plan = f"tiny-{uuid.uuid4().hex[:6]}"
    created = httpx.put(f"{base_url}/api/v1/admin/plans/{plan}", json={"tokens_per_day": DAILY_TOKENS}, headers=headers)
    assert created.status_code == 201, created.text
    email = new_email("meter")
    register_by_api(base_url, email)
    users = httpx.get(f"{base_url}/api/v1/admin/users", params={"q": email}, headers=headers).json()["items"]
    moved = httpx.patch(
        f"{base_url}/api/v1/admin/users/{users[0]['id']}", json={"subscription_tier": plan}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    return email


def _tokens_left(page: Page) -> int:
    text = page.get_by_test_id("limits-meter").get_by_text(re.compile(r"tokens left today")).inner_text()
    found = re.search(r"([\d,]+) tokens left today", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_the_meter_moves_and_a_used_up_quota_is_explained(page: Page, base_url: str, artifacts: Path) -> None:
    email = _user_on_tiny_plan(base_url)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    comes_back = f"It comes back on {tomorrow:%b} {tomorrow.day}, {tomorrow.year}, 12:00 AM."

    sign_in(page, email)
    meter = page.get_by_test_id("limits-meter")
    expect(meter.get_by_text("800 tokens left today")).to_be_visible()

    send(page, "hello there")
    expect(last_answer(page)).to_contain_text("hello there")
    expect(meter.get_by_text("800 tokens left today")).to_be_hidden()
    left = _tokens_left(page)
    assert 0 < left < DAILY_TOKENS
    gauge = page.get_by_test_id("context-gauge")
    expect(gauge).to_contain_text(re.compile(r"\d+ / 8\.2K tokens"))
    page.screenshot(path=artifacts / "50-limits-meter.png")

    # A question that fits in what is left, but not with the whole of its echo: the answer stops at the quota and
    # says so.
    send(page, " ".join(["go"] * 500))
    notice = last_answer(page).get_by_test_id("limit-notice")
    # (the echo model writes 25 tokens a second)
    expect(notice).to_contain_text("The answer stopped here because your daily token quota is used up.", timeout=30_000)
    expect(notice).to_contain_text(comes_back)
    expect(meter.get_by_role("alert")).to_have_text(f"Your daily token quota is used up. {comes_back}")
    expect(meter.get_by_text("0 tokens left today")).to_be_visible()

    # Over the quota: the next message is refused, and the chat says which limit and when it comes back (nothing is
    # left, so it says "used up", not "too little left").
    send(page, "one more please")
    refusal = page.locator(".composer-wrap").get_by_role("alert")
    expect(refusal).to_contain_text(f"Your message was not sent: Your daily token quota is used up. {comes_back}")
    expect(page.get_by_role("textbox", name="Message")).to_have_value("one more please")
    page.screenshot(path=artifacts / "51-limits-used-up.png")
