"""Custom roles in a real browser: an administrator creates an "analyst" role on the Roles page (the everyday
permissions plus organisation analytics), gives it to a user on the Users page; the user then finds Administration
opening on Analytics, and no other section."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import new_email, register_by_api, sign_in

pytestmark = pytest.mark.e2e


def test_admin_creates_a_role_and_its_holder_sees_only_its_section(
    page: Page, browser: Browser, base_url: str, artifacts: Path
) -> None:
    role = f"analyst-{uuid.uuid4().hex[:6]}"
    member = new_email("analyst")
    register_by_api(base_url, member)

    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Roles").click()
    expect(page.get_by_role("heading", level=1, name="Roles")).to_be_visible()
    form = page.get_by_role("form", name="Create role")
    form.get_by_role("textbox", name="Name").fill(role)
    expect(form.get_by_role("checkbox", name="chat")).to_be_checked()
    form.get_by_role("checkbox", name="admin:analytics").check()
    form.get_by_role("button", name="Create role").click()
    expect(page.get_by_text(f"Role “{role}” created.")).to_be_visible()
    row = page.get_by_role("table", name="Roles").get_by_role("row").filter(has_text=role)
    expect(row).to_contain_text("admin:analytics")
    page.screenshot(path=artifacts / "47-admin-roles.png")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_role("searchbox", name="Search by email or name").fill(member)
    page.get_by_role("combobox", name=f"Role of {member}").select_option(role)
    expect(page.get_by_text(f"Updated {member}")).to_be_visible()

    holder = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 800})
    try:
        their_page = holder.new_page()
        sign_in(their_page, member)
        their_page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
        expect(their_page.get_by_role("heading", level=1, name="Analytics")).to_be_visible()
        sections = their_page.get_by_role("navigation", name="Administration").get_by_role("link")
        expect(sections).to_have_text(["Analytics"])
        # a section they may not open sends them back to one they may
        their_page.goto("/admin/roles")
        expect(their_page.get_by_role("heading", level=1, name="Analytics")).to_be_visible()
    finally:
        holder.close()

    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": member, "password": "correct-horse-battery"})
    me = httpx.get(f"{base_url}/api/v1/users/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert me.json()["role"] == role and "admin:analytics" in me.json()["permissions"]
