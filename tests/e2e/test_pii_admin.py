"""PII policy in a real browser: an administrator sets a plan's "Personal data in prompts" to Refused on the Plans
page; a member of that plan who writes an email address in a message gets the refusal naming the kind of data
(and the address is not stored), while a message without personal data is answered."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def _admin_headers(base_url: str) -> dict[str, str]:
    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_admin_refuses_personal_data_for_a_plan(page: Page, base_url: str, artifacts: Path) -> None:
    headers = _admin_headers(base_url)
    plan = f"pii-{uuid.uuid4().hex[:8]}"
    created = httpx.put(f"{base_url}/api/v1/admin/plans/{plan}", json={"tokens_per_day": 100_000}, headers=headers)
    assert created.status_code == 201, created.text
    member = new_email("pii")
    register_by_api(base_url, member)
    users = httpx.get(f"{base_url}/api/v1/admin/users", params={"q": member}, headers=headers).json()["items"]
    moved = httpx.patch(
        f"{base_url}/api/v1/admin/users/{users[0]['id']}", json={"subscription_tier": plan}, headers=headers
    )
    assert moved.status_code == 200, moved.text

    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Plans").click()
    row = page.get_by_role("table", name="Plans").get_by_role("row").filter(has_text=plan)
    expect(row.locator('[data-limit="pii_policy"]')).to_have_text("Each model's own")
    row.get_by_role("button", name=f"Edit the plan {plan}").click()
    form = page.get_by_role("form", name=f"Edit the plan “{plan}”")
    form.get_by_role("combobox", name="Personal data in prompts").select_option("block")
    form.get_by_role("button", name="Save plan").click()
    expect(page.get_by_text(f"Plan “{plan}” saved.")).to_be_visible()
    expect(row.locator('[data-limit="pii_policy"]')).to_have_text("Refused")
    page.screenshot(path=artifacts / "60-admin-plan-pii-policy.png")
    listed = {p["name"]: p["limits"] for p in httpx.get(f"{base_url}/api/v1/admin/plans", headers=headers).json()}
    assert listed[plan]["pii_policy"] == "block" and listed[plan]["tokens_per_day"] == 100_000

    page.context.clear_cookies()
    sign_in(page, member)
    send(page, "Please write to greta.lind@example.com about the invoice")
    expect(page.get_by_text("an email address", exact=False).first).to_be_visible(timeout=20_000)
    page.screenshot(path=artifacts / "61-chat-pii-refused.png")
    send(page, "What is our travel policy?")
    expect(last_answer(page)).to_contain_text("What is our travel policy?", timeout=20_000)
