"""A conversation gets its title in the sidebar however its first answer ended, stopped included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import (
    choose_model,
    last_answer,
    new_email,
    open_conversation_item,
    register_by_api,
    send,
    sign_in,
    words,
)

pytestmark = pytest.mark.e2e


def test_a_conversation_whose_first_answer_was_stopped_gets_a_title(page: Page, base_url: str) -> None:
    email = new_email("titles")
    register_by_api(base_url, email)
    sign_in(page, email)

    choose_model(page, "slow")
    send(page, "lighthouse " + words(80))
    expect(last_answer(page)).to_contain_text("word2")
    page.get_by_role("button", name="Stop").click()
    expect(last_answer(page).get_by_text("Stopped")).to_be_visible()

    # The sidebar names it after the question (the scripted model echoes it), not "New chat" ...
    item = open_conversation_item(page)
    expect(item).to_contain_text("lighthouse", timeout=15_000)
    expect(item).not_to_contain_text("New chat")
    # ... and so does the server.
    page.reload()
    expect(open_conversation_item(page)).to_contain_text("lighthouse")
