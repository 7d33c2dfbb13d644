"""Admin analytics in a real browser: a user chats; an administrator gives them a cost centre on the Users page,
finds their spend under that cost centre and their model on the Analytics page, and downloads the chargeback CSV;
a user's thumbs down and a plan change show on the same page."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import PASSWORD, last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def _chat_by_api(base_url: str, email: str) -> None:
    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    answer = httpx.post(
        f"{base_url}/api/v1/chat",
        json={"message": "count my tokens", "model": "echo", "stream": False},
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_chargeback_by_cost_centre(browser: Browser, base_url: str, artifacts: Path) -> None:
    member = new_email("analytics")
    register_by_api(base_url, member)
    _chat_by_api(base_url, member)
    centre = f"CC-{uuid.uuid4().hex[:6]}"

    admin = browser.new_context(
        base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 800}, accept_downloads=True
    ).new_page()
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
        admin.get_by_role("searchbox", name="Search by email or name").fill(member)
        field = admin.get_by_role("textbox", name=f"Cost centre of {member}")
        field.fill(centre)
        field.press("Enter")
        expect(admin.get_by_text(f"Updated {member}")).to_be_visible()

        admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Analytics").click()
        expect(admin.get_by_role("heading", level=1, name="Analytics")).to_be_visible()
        table = admin.get_by_role("table", name="Analytics per key")
        expect(table).to_be_visible()
        admin.get_by_label("Group by").select_option("cost_centre")
        expect(table.get_by_role("rowheader", name=centre)).to_be_visible()
        # the scripted models are free, so the bars show tokens
        expect(admin.get_by_role("img", name="Bar chart: Tokens per key")).to_be_visible()
        admin.screenshot(path=artifacts / "40-admin-analytics.png")

        with admin.expect_download() as download:
            admin.get_by_role("button", name="Download CSV").click()
        assert download.value.suggested_filename == "parley-analytics-cost_centre.csv"
        content = Path(download.value.path()).read_text(encoding="utf-8")
        assert content.startswith("cost_centre,from,to,")
        assert any(line.startswith(f"{centre},") for line in content.splitlines())

        admin.get_by_label("Group by").select_option("model")
        expect(table.get_by_role("rowheader", name="echo")).to_be_visible()
    finally:
        admin.context.close()


def test_feedback_reaches_the_analytics(browser: Browser, page: Page, base_url: str, artifacts: Path) -> None:
    """A user rates an answer thumbs down with a comment and sees the rating again after a reload; an administrator
    moves them to the pro plan and finds both on the Analytics page: their satisfaction and the plan change."""
    member = new_email("feedback")
    register_by_api(base_url, member)
    sign_in(page, member)
    send(page, "rate this answer")
    answer = last_answer(page)
    expect(answer).to_contain_text("rate this answer")
    answer.get_by_role("button", name="Bad answer").click()
    answer.get_by_role("textbox", name="What was wrong? (optional)").fill("it only repeated me")
    answer.get_by_role("button", name="Send").click()
    expect(answer.get_by_role("status")).to_have_text("Thanks for your feedback")
    page.screenshot(path=artifacts / "41-answer-feedback.png")
    page.reload()
    expect(last_answer(page).get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "true")
    expect(last_answer(page).get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "false")

    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    found = httpx.get(f"{base_url}/api/v1/admin/users", params={"q": member}, headers=headers).json()["items"][0]
    moved = httpx.patch(
        f"{base_url}/api/v1/admin/users/{found['id']}", json={"subscription_tier": "pro"}, headers=headers
    )
    assert moved.status_code == 200, moved.text

    admin = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.goto("/admin/analytics")
        expect(admin.get_by_role("heading", level=1, name="Analytics")).to_be_visible()
        admin.get_by_label("Group by").select_option("user")
        table = admin.get_by_role("table", name="Analytics per key")
        row = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name=member))
        expect(row).to_be_visible()
        headers_text = table.get_by_role("columnheader").all_text_contents()
        satisfaction = row.get_by_role("cell").nth(headers_text.index("Satisfaction") - 1)
        expect(satisfaction).to_have_text("0 %")
        expect(admin.get_by_role("region", name="Feedback on answers")).to_contain_text("1 thumbs down")
        changes = admin.get_by_role("region", name="Plan changes")
        expect(changes.get_by_role("listitem").filter(has_text="free → pro")).to_be_visible()
        admin.screenshot(path=artifacts / "42-admin-analytics-feedback.png", full_page=True)
    finally:
        admin.context.close()
