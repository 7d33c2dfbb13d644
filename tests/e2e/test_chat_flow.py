"""The whole life of a conversation in a real browser: register, sign in, a streamed answer, stop, regenerate,
rename, search, archive, delete, sign out; and the same chat on a 360 px wide phone screen."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import (
    PASSWORD,
    choose_model,
    conversation_item,
    last_answer,
    new_email,
    open_conversation_item,
    register_by_api,
    send,
    sidebar,
    sign_in,
    words,
)

pytestmark = pytest.mark.e2e


def _watch_stream(page: Page) -> list[int]:
    """The lengths of the answer's text while it streams, until it is done."""
    answer = last_answer(page)
    seen: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = answer.get_attribute("data-status")
        seen.append(answer.evaluate("node => node.querySelector('.markdown')?.textContent.length ?? 0"))
        if status == "done":
            return seen
        page.wait_for_timeout(50)
    raise AssertionError(f"the answer did not finish: {seen[-5:]}")


def test_conversation_lifecycle(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("alice")

    # register (the sign-in page offers it), then sign in
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin$"))
    # an installable app: a manifest, and a service worker for the static files
    assert page.evaluate("async () => (await fetch('/manifest.webmanifest')).ok")
    assert page.evaluate("async () => Boolean((await navigator.serviceWorker.ready).active)")
    page.screenshot(path=artifacts / "01-sign-in.png")
    page.get_by_role("link", name="Create one").click()
    page.get_by_label("Full name (optional)").fill("Alice Example")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=artifacts / "02-register.png")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    sign_in(page, email)

    # a message streams in token by token
    choose_model(page, "echo")
    question = "zebra " + words(40)
    send(page, question)
    expect(page.locator("article.from-user").last).to_contain_text("zebra word0")
    lengths = _watch_stream(page)
    final = lengths[-1]
    assert any(0 < length < final for length in lengths), f"no partial answer was ever shown: {lengths}"
    assert lengths == sorted(lengths), "the answer only grows while streaming"
    expect(last_answer(page)).to_contain_text("word39")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))

    # Stop: the answer ends where it was, marked as stopped
    choose_model(page, "slow")
    send(page, words(80, "stop"))
    expect(last_answer(page)).to_contain_text("stop2")
    page.get_by_role("button", name="Stop").click()
    expect(last_answer(page).get_by_text("Stopped")).to_be_visible()
    stopped_text = last_answer(page).locator(".markdown").inner_text()
    assert "stop79" not in stopped_text
    expect(page.get_by_role("button", name="Send")).to_be_visible()

    # Regenerate answers the last question again, in full this time
    choose_model(page, "echo")
    last_answer(page).get_by_role("button", name="Regenerate").click()
    expect(last_answer(page)).to_have_attribute("data-status", "done", timeout=15_000)
    expect(last_answer(page)).to_contain_text("stop79")
    expect(last_answer(page).get_by_text("Stopped")).to_have_count(0)
    expect(page.locator("article.from-assistant")).to_have_count(2)

    # edit the last question: it is replaced, and answered again
    page.locator("article.from-user").last.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    editor.fill("edited question please")
    page.get_by_role("button", name="Save & submit").click()
    expect(page.locator("article.from-user").last).to_have_text("edited question please")
    expect(last_answer(page)).to_have_attribute("data-status", "done", timeout=15_000)
    expect(last_answer(page)).to_contain_text("edited question please")
    expect(page.locator("article.from-user")).to_have_count(2)
    page.reload()
    expect(page.locator("article.from-user").last).to_have_text("edited question please")
    expect(last_answer(page)).to_contain_text("edited question please")

    # a second conversation, with rich markdown: code with a copy button, a table, LaTeX
    page.get_by_role("button", name="New chat").click()
    choose_model(page, "markdown")
    send(page, "Show me something formatted")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer.locator("pre code.language-python")).to_be_visible()
    expect(answer.get_by_role("button", name="Copy code")).to_be_visible()
    expect(answer.get_by_role("table")).to_be_visible()
    expect(answer.locator(".katex")).to_be_visible()
    page.screenshot(path=artifacts / "03-chat-markdown.png")

    # rename the first conversation in the sidebar
    first = sidebar(page).locator(".conversation-item").filter(has_not=page.locator("a.active"))
    first.hover()
    first.get_by_role("button", name=re.compile("^Rename")).click()
    rename = sidebar(page).get_by_role("textbox", name=re.compile("^New title"))
    rename.fill("Project Falcon")
    rename.press("Enter")
    falcon = conversation_item(page, "Project Falcon")
    expect(falcon).to_be_visible()

    # search runs on the server, over titles and messages
    search = page.get_by_role("searchbox", name="Search conversations")
    search.fill("zebra")
    expect(sidebar(page).locator(".conversation-item")).to_have_count(1)
    expect(falcon).to_be_visible()
    search.fill("nothingmatchesthis")
    expect(sidebar(page).get_by_text("Nothing matches")).to_be_visible()
    search.fill("")
    expect(sidebar(page).locator(".conversation-item")).to_have_count(2)
    page.screenshot(path=artifacts / "04-sidebar.png")

    # archive, find it among the archived, unarchive
    falcon.hover()
    falcon.get_by_role("button", name=re.compile("^Archive")).click()
    expect(falcon).to_have_count(0)
    page.get_by_label("Show archived").check()
    expect(falcon).to_be_visible()
    falcon.hover()
    falcon.get_by_role("button", name=re.compile("^Unarchive")).click()
    expect(falcon).to_have_count(0)
    page.get_by_label("Show archived").uncheck()
    expect(falcon).to_be_visible()

    # delete, after confirming
    falcon.click()
    expect(page.locator("article.from-assistant")).to_have_count(2)
    item = open_conversation_item(page)
    item.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Project Falcon")
    page.screenshot(path=artifacts / "05-delete-confirm.png")
    dialog.get_by_role("button", name="Delete").click()
    expect(falcon).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(sidebar(page).locator(".conversation-item")).to_have_count(1)

    # sign out: back to the sign-in page, and a reload does not bring the session back
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/signin$"))


def test_chat_on_a_360px_phone(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("phone")
    register_by_api(base_url, email)
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, email)
    choose_model(page, "echo")
    send(page, "Hello from a small screen " + words(20))
    lengths = _watch_stream(page)
    assert any(0 < length < lengths[-1] for length in lengths)
    # scrolling up while an answer streams stops the auto-scroll; "Jump to latest" resumes it; Esc stops
    choose_model(page, "slow")
    send(page, words(60, "scroll"))
    expect(last_answer(page)).to_contain_text("scroll3")
    scroller = page.locator(".chat-scroll")
    scroller.evaluate("node => node.scrollTo(0, 0)")
    page.wait_for_timeout(1000)
    assert scroller.evaluate("node => node.scrollTop") < 5, "the view was pulled down while the user read above"
    page.get_by_role("button", name="Jump to latest").click()
    page.wait_for_timeout(600)
    assert scroller.evaluate("node => node.scrollHeight - node.scrollTop - node.clientHeight") < 60
    page.keyboard.press("Escape")
    expect(last_answer(page).get_by_text("Stopped")).to_be_visible()

    # a model that fails: another answers, and the answer says so
    choose_model(page, "flaky")
    send(page, "A second, shorter question")
    expect(last_answer(page)).to_contain_text("shorter question", timeout=15_000)
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page).get_by_role("status")).to_contain_text("flaky was unavailable, so echo answered")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the page scrolls sideways"
    page.screenshot(path=artifacts / "10-mobile-chat.png")

    # the sidebar is a drawer behind the menu button
    expect(sidebar(page)).to_be_hidden()
    page.get_by_role("button", name="Open menu").click()
    expect(sidebar(page).locator(".conversation-item")).to_have_count(1)
    page.wait_for_timeout(300)  # the drawer slides in
    page.screenshot(path=artifacts / "11-mobile-drawer.png")
    page.keyboard.press("Escape")
    expect(sidebar(page)).to_be_hidden()
