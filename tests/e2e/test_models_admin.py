"""The model catalogue in a real browser: an administrator adds a model on the Models page, a user chats with it at
once, and once the administrator disables it the model is gone from what users may pick."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import PASSWORD, choose_model, last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def _headers(base_url: str, email: str, password: str) -> dict[str, str]:
    tokens = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_admin_adds_a_model_a_user_chats_with_it_then_it_is_disabled(
    page: Page, base_url: str, artifacts: Path
) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Models").click()
    expect(page.get_by_role("heading", level=1, name="Models")).to_be_visible()
    form = page.get_by_role("form", name="Add model")
    form.get_by_role("textbox", name="Name", exact=True).fill(name)
    form.get_by_role("combobox", name="Provider").select_option("scripted")
    form.get_by_role("textbox", name="Display name").fill("Team model")
    form.get_by_role("spinbutton", name="USD per 1k prompt tokens").fill("0.75")
    form.get_by_role("checkbox", name="echo").check()
    form.get_by_role("button", name="Add model").click()
    expect(page.get_by_text(f"Model “{name}” saved.")).to_be_visible()
    row = page.get_by_role("table", name="Models").get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Added here")
    expect(row).to_contain_text("0.75")
    page.screenshot(path=artifacts / "47-admin-models.png")

    member = new_email("models")
    register_by_api(base_url, member)
    # The user in a browser of their own (another context: cookies apart from the administrator's).
    browser = page.context.browser
    assert browser is not None
    user_context = browser.new_context(base_url=base_url)
    user_page = user_context.new_page()
    sign_in(user_page, member)
    choose_model(user_page, name)
    send(user_page, "hello from the new model")
    expect(last_answer(user_page)).to_contain_text("hello from the new model", timeout=20_000)
    user_context.close()

    row.get_by_role("button", name=f"Disable the model {name}").click()
    expect(row).to_contain_text("Disabled")
    member_headers = _headers(base_url, member, PASSWORD)
    listed = httpx.get(f"{base_url}/v1/models", headers=member_headers)
    assert listed.status_code == 200, listed.text
    assert name not in [model["id"] for model in listed.json()["data"]]
