"""Your data in a real browser (GDPR, issue 14): a user exports their data and downloads the zip from the settings,
then deletes their account (password asked, a clear warning) and can no longer sign in; an administrator places a
user on legal hold (deletion refused meanwhile), lifts it and deletes the user."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import PASSWORD, choose_model, last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def _settings(page: Page) -> None:
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()


def test_export_download_then_account_deletion(page: Page, base_url: str, artifacts: Path, tmp_path: Path) -> None:
    email = new_email("gdpr")
    register_by_api(base_url, email, full_name="Gita Dahl")
    sign_in(page, email)
    choose_model(page, "echo")
    send(page, "Export canary 4471 please")
    expect(last_answer(page)).to_have_attribute("data-status", "done")

    _settings(page)
    section = page.locator("section").filter(has=page.get_by_role("heading", name="Export my data"))
    section.get_by_role("button", name="Export my data").click()
    download_button = section.get_by_role("button", name="Download export")
    expect(download_button).to_be_visible(timeout=30_000)
    expect(section.get_by_role("status")).to_contain_text("ready until")
    with page.expect_download() as download:
        download_button.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("parley-export-") and saved.suffix == ".zip"
    archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
    assert json.loads(archive.read("profile.json"))["email"] == email
    markdown = [name for name in archive.namelist() if name.endswith(".md")]
    assert len(markdown) == 1 and "Export canary 4471 please" in archive.read(markdown[0]).decode()
    page.screenshot(path=artifacts / "20-settings-your-data.png", full_page=True)

    danger = page.locator("section").filter(has=page.get_by_role("heading", name="Delete my account"))
    expect(danger).to_contain_text("cannot be undone")
    delete_button = danger.get_by_role("button", name="Delete my account")
    expect(delete_button).to_be_disabled()
    danger.get_by_label("Current password").fill("not my password")
    danger.get_by_role("checkbox").check()
    delete_button.click()
    expect(danger.get_by_text("password is not correct")).to_be_visible()
    danger.get_by_label("Current password").fill(PASSWORD)
    delete_button.click()
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible(timeout=20_000)

    refused = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401


def test_admin_legal_hold_then_deletion(browser: Browser, base_url: str) -> None:
    email = new_email("held")
    register_by_api(base_url, email)
    admin = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1400, "height": 800}).new_page()
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.get_by_role("link", name="Admin").click()
        admin.get_by_role("searchbox", name="Search by email or name").fill(email)
        row = admin.locator(f'tr[data-email="{email}"]')
        expect(admin.locator("tbody tr")).to_have_count(1)
        row.get_by_role("button", name=f"Hold: {email}").click()
        expect(row).to_contain_text("Legal hold")
        expect(row.get_by_role("button", name=f"Delete: {email}")).to_be_disabled()
        row.get_by_role("button", name=f"Lift hold: {email}").click()
        expect(row).not_to_contain_text("Legal hold")
        row.get_by_role("button", name=f"Delete: {email}").click()
        dialog = admin.get_by_role("alertdialog")
        expect(dialog).to_contain_text("cannot be undone")
        dialog.get_by_role("button", name="Delete").click()
        expect(admin.get_by_text(f"{email} was deleted.")).to_be_visible()
        expect(admin.get_by_text("No users match.")).to_be_visible()
    finally:
        admin.context.close()
