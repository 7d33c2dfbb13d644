"""Steps a person takes in the web app, shared by the end-to-end tests."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Locator, Page, expect

PASSWORD = "correct-horse-battery"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def register_by_api(base_url: str, email: str, password: str = PASSWORD, full_name: str | None = None) -> None:
    response = httpx.post(
        f"{base_url}/api/v1/auth/register", json={"email": email, "password": password, "full_name": full_name}
    )
    assert response.status_code == 201, response.text


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Signing in runs argon2 on the server: on a loaded CI machine that alone can take seconds.
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)


def choose_model(page: Page, model: str) -> None:
    page.get_by_label("Model").select_option(model)


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def last_answer(page: Page) -> Locator:
    return page.locator("article.from-assistant").last


def sidebar(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Conversations")


def open_conversation_item(page: Page) -> Locator:
    """The sidebar entry of the conversation on screen."""
    return sidebar(page).locator(".conversation-item").filter(has=page.locator("a.active"))


def conversation_item(page: Page, title: str) -> Locator:
    return sidebar(page).locator(".conversation-item").filter(has_text=re.compile(re.escape(title)))


def words(count: int, word: str = "word") -> str:
    return " ".join(f"{word}{index}" for index in range(count))
