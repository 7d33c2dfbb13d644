"""SCIM provisioning in a real browser: an administrator opens the Provisioning page, creates the SCIM token
(shown once), and the identity provider's client provisions a user with it; the page then shows the call."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import new_email, sign_in

pytestmark = pytest.mark.e2e


def test_admin_creates_the_scim_token_and_the_idp_provisions_with_it(
    page: Page, base_url: str, artifacts: Path
) -> None:
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Provisioning").click()
    expect(page.get_by_role("heading", level=1, name="SCIM provisioning")).to_be_visible()
    expect(page.get_by_test_id("scim-base-url")).to_have_text(f"{base_url}/scim/v2")

    button = page.get_by_role("button", name="Create token").or_(page.get_by_role("button", name="Rotate token"))
    button.click()
    dialog = page.get_by_role("alertdialog")
    if dialog.count():
        dialog.get_by_role("button", name="Rotate token").click()
    token_shown = page.get_by_test_id("new-scim-token")
    expect(token_shown).to_be_visible()
    token = token_shown.inner_text()
    assert token.startswith("scim-")
    expect(page.get_by_test_id("scim-status")).to_contain_text("On")
    page.screenshot(path=artifacts / "50-admin-scim.png")

    email = new_email("scim")
    created = httpx.post(
        f"{base_url}/scim/v2/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "active": True},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )
    assert created.status_code == 201, created.text

    page.reload()
    expect(page.get_by_text("Never")).to_have_count(0)
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_role("searchbox", name="Search by email or name").fill(email)
    expect(page.get_by_text(email)).to_be_visible()
