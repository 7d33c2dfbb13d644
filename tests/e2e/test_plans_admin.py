"""Plans and limits in a real browser: an administrator edits a plan's tokens per day on the Plans page, puts a
user on that plan on the Users page and gives them an override of their own; the API reads back what was stored."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import new_email, register_by_api, sign_in

pytestmark = pytest.mark.e2e


def _admin_headers(base_url: str) -> dict[str, str]:
    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_admin_edits_a_plan_assigns_it_and_overrides_a_users_limit(page: Page, base_url: str, artifacts: Path) -> None:
    headers = _admin_headers(base_url)
    plan = f"e2e-{uuid.uuid4().hex[:8]}"
    created = httpx.put(
        f"{base_url}/api/v1/admin/plans/{plan}",
        json={"tokens_per_day": 1000, "requests_per_minute": 30},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    member = new_email("plans")
    register_by_api(base_url, member)

    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Plans").click()
    expect(page.get_by_role("heading", level=1, name="Plans")).to_be_visible()
    row = page.get_by_role("table", name="Plans").get_by_role("row").filter(has_text=plan)
    row.get_by_role("button", name=f"Edit the plan {plan}").click()
    form = page.get_by_role("form", name=f"Edit the plan “{plan}”")
    per_day = form.get_by_role("spinbutton", name="Tokens per day")
    expect(per_day).to_have_value("1000")
    per_day.fill("250000")
    form.get_by_role("button", name="Save plan").click()
    expect(page.get_by_text(f"Plan “{plan}” saved.")).to_be_visible()
    expect(row.locator('[data-limit="tokens_per_day"]')).to_have_text("250,000")
    page.screenshot(path=artifacts / "45-admin-plans.png")

    listed = {p["name"]: p["limits"] for p in httpx.get(f"{base_url}/api/v1/admin/plans", headers=headers).json()}
    assert listed[plan]["tokens_per_day"] == 250_000
    # the other limits stayed as they were
    assert listed[plan]["requests_per_minute"] == 30 and listed[plan]["tokens_per_month"] is None

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_role("searchbox", name="Search by email or name").fill(member)
    page.get_by_role("combobox", name=f"Plan of {member}").select_option(plan)
    expect(page.get_by_text(f"Updated {member}")).to_be_visible()
    page.get_by_role("button", name=f"Limits of {member}").click()
    dialog = page.get_by_role("dialog", name=f"Limits of {member}")
    dialog.get_by_role("checkbox", name="Tokens per day").check()
    dialog.get_by_role("spinbutton", name="Tokens per day").fill("5000000")
    dialog.get_by_role("checkbox", name="Budget per month (USD)").check()  # left empty: unlimited
    page.screenshot(path=artifacts / "46-admin-user-limits.png")
    dialog.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text(f"Limits of {member} saved.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=member).get_by_text("Own limits")).to_be_visible()

    users = httpx.get(f"{base_url}/api/v1/admin/users", params={"q": member}, headers=headers).json()["items"]
    assert [(u["subscription_tier"], u["limits"]) for u in users] == [
        (plan, {"tokens_per_day": 5_000_000, "usd_budget_per_month": None})
    ]
