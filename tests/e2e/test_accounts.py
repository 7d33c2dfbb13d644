"""Accounts in a real browser: an administrator suspends a user, who is signed out on their next call; the
language switch changes the UI and is remembered; settings (API keys shown once), usage charts, admin console."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import choose_model, last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def test_a_suspended_user_is_signed_out_on_the_next_call(browser: Browser, base_url: str, artifacts: Path) -> None:
    email = new_email("mallory")
    register_by_api(base_url, email, full_name="Mallory Example")
    user = browser.new_context(base_url=base_url, locale="en-US").new_page()
    admin = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(user, email)
        choose_model(user, "echo")
        send(user, "Hello before the suspension")
        expect(last_answer(user)).to_have_attribute("data-status", "done")

        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.get_by_role("link", name="Admin").click()
        admin.get_by_role("searchbox", name="Search by email or name").fill("mallory")
        row = admin.locator(f'tr[data-email="{email}"]')
        expect(admin.locator("tbody tr")).to_have_count(1)
        expect(row).to_contain_text("Active")
        row.get_by_role("button", name=f"Suspend: {email}").click()
        dialog = admin.get_by_role("alertdialog")
        expect(dialog).to_contain_text(email)
        dialog.get_by_role("button", name="Suspend").click()
        expect(row).to_contain_text("Suspended")
        # the filters: suspended users only, then active ones only
        admin.get_by_label("Status", exact=True).select_option("suspended")
        expect(admin.locator("tbody tr")).to_have_count(1)
        expect(row).to_be_visible()
        admin.get_by_label("Status", exact=True).select_option("active")
        expect(admin.get_by_text("No users match.")).to_be_visible()
        admin.get_by_role("searchbox", name="Search by email or name").fill("")
        admin.get_by_label("Role", exact=True).select_option("admin")
        expect(admin.locator("tbody tr")).to_have_count(1)
        expect(admin.locator(f'tr[data-email="{ADMIN_EMAIL}"]')).to_be_visible()
        admin.get_by_label("Role", exact=True).select_option("")
        admin.get_by_label("Status", exact=True).select_option("")
        # Cleared filters list everyone again (other e2e tests may share this server's users).
        expect(admin.locator(f'tr[data-email="{ADMIN_EMAIL}"]')).to_be_visible(timeout=10_000)
        expect(row).to_be_visible()
        admin.screenshot(path=artifacts / "08-admin-users.png")

        # the user's next call is refused: back to the sign-in page, told why
        send(user, "Am I still here?")
        expect(user.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
        expect(user.get_by_role("alert")).to_contain_text("suspended")
        user.screenshot(path=artifacts / "09-suspended.png")

        # and cannot sign in again until reinstated
        user.get_by_label("Email").fill(email)
        user.get_by_label("Password").fill("correct-horse-battery")
        user.get_by_role("button", name="Sign in").click()
        expect(user.get_by_role("alert")).to_contain_text("suspended")

        # the admin changes role and plan, and reinstates the account
        admin.get_by_role("searchbox", name="Search by email or name").fill("mallory")
        expect(admin.locator("tbody tr")).to_have_count(1)
        admin.get_by_label(f"Plan of {email}").select_option("pro")
        expect(admin.get_by_text(f"Updated {email}")).to_be_visible()
        row.get_by_role("button", name=f"Reinstate: {email}").click()
        expect(row).to_contain_text("Active")
        sign_in(user, email)
    finally:
        user.context.close()
        admin.context.close()


def test_language_switch_changes_the_ui_and_is_remembered(page: Page, base_url: str) -> None:
    email = new_email("hans")
    register_by_api(base_url, email)
    page.goto("/signin")
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    page.get_by_label("Language").select_option("de")
    expect(page.get_by_role("heading", name="Bei Parley anmelden")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.reload()
    expect(page.get_by_role("heading", name="Bei Parley anmelden")).to_be_visible()

    page.get_by_label("E-Mail").fill(email)
    page.get_by_label("Passwort").fill("correct-horse-battery")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Neuer Chat")).to_be_visible()
    expect(page.get_by_role("textbox", name="Nachricht")).to_be_visible()

    page.get_by_role("link", name="Einstellungen").click()
    expect(page.get_by_role("heading", name="Einstellungen", level=1)).to_be_visible()
    page.get_by_label("Sprache", exact=True).select_option("es")
    expect(page.get_by_role("heading", name="Ajustes", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Nuevo chat")).to_be_visible()
    page.get_by_label("Idioma", exact=True).select_option("en")
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()


def test_settings_usage_and_theme(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("carol")
    register_by_api(base_url, email, full_name="Carol Example")
    sign_in(page, email)
    choose_model(page, "echo")
    send(page, "Count my tokens please")
    expect(last_answer(page)).to_have_attribute("data-status", "done")

    # usage: totals and charts per day and per model
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Tokens and cost per day"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Tokens and cost per model"))).to_be_visible()
    expect(page.locator(".recharts-bar-rectangle").first).to_be_visible()
    expect(page.locator(".stat").filter(has_text="Requests")).to_contain_text("1")
    page.screenshot(path=artifacts / "07-usage.png", full_page=True)

    # an expired access token (a 401, faked once): the app refreshes through the cookie and retries the call
    refreshes: list[str] = []

    def count_refresh(route: Route) -> None:
        refreshes.append(route.request.url)
        route.continue_()

    page.route("**/api/v1/auth/refresh", count_refresh)
    refused: list[str] = []

    def refuse_once(route: Route) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(
            status=401,
            content_type="application/problem+json",
            body='{"type":"about:blank","title":"Unauthorized","status":401,"detail":"token expired"}',
        )

    page.route("**/api/v1/users/me/api-keys", refuse_once)

    # settings: profile, an API key shown once, revoked; the dark theme
    with page.expect_response(lambda response: response.url.endswith("/api-keys") and response.status == 200):
        page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    assert len(refused) == 1
    assert len(refreshes) == 1, refreshes
    page.unroute("**/api/v1/users/me/api-keys")
    page.unroute("**/api/v1/auth/refresh")
    page.get_by_label("Full name").fill("Carol Renamed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved")).to_be_visible()
    page.get_by_label("Key name").fill("laptop script")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-api-key")
    expect(key).to_have_text(re.compile(r"^pk-"))
    expect(page.get_by_role("cell", name="laptop script", exact=True)).to_be_visible()
    page.get_by_label("Dark").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.screenshot(path=artifacts / "06-settings-dark.png", full_page=True)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.get_by_role("navigation", name="Conversations").get_by_role("link").first.click()
    expect(last_answer(page)).to_contain_text("Count my tokens please")
    page.screenshot(path=artifacts / "12-chat-dark.png")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)  # shown once only
    page.get_by_role("button", name="Revoke: laptop script").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    page.get_by_label("System").check()
