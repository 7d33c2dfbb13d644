"""What a person sees when Parley cannot be reached for a moment: a question sent meanwhile is neither lost nor
answered as another one, and a page whose code cannot be fetched says so and comes back with Try again (no blank
app, no reload)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.e2e.ui import last_answer, new_email, register_by_api, send, sidebar, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright's routing does not see requests a service worker answers: the outage is simulated by routing,
    # so the app's service worker stays out of these pages.
    return {**browser_context_args, "service_workers": "block"}


class Outage:
    """Requests for the matching files fail like a server that is down, until `end()`."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0

    def handle(self, route: Route) -> None:
        if self.down:
            self.refused += 1
            route.abort("connectionrefused")
        else:
            route.continue_()

    def end(self) -> None:
        self.down = False


def test_a_page_whose_code_cannot_be_fetched_offers_try_again_and_recovers(
    page: Page, base_url: str, artifacts: Path
) -> None:
    email = new_email("blip")
    register_by_api(base_url, email)
    sign_in(page, email)

    # The server goes away just as the Files page is opened for the first time.
    outage = Outage()
    page.route(re.compile(r"/assets/FilesPage-[^/]*\.js$"), outage.handle)
    page.get_by_role("link", name="Files").click()

    failed = page.get_by_role("alert")
    expect(failed).to_contain_text("This page could not be loaded.")
    # The app around it still works: the sidebar and its conversations are there.
    expect(sidebar(page)).to_be_visible()
    expect(page.get_by_role("searchbox", name="Search conversations")).to_be_visible()
    page.screenshot(path=artifacts / "20-page-could-not-load.png")

    # Still down: trying again says so again.
    page.get_by_role("button", name="Try again").click()
    expect(failed).to_contain_text("This page could not be loaded.")
    assert outage.refused >= 2

    # Back: Try again fetches the page's code and shows it, without reloading the app.
    outage.end()
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)

    # The other pages still work, and the chat is one click away.
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage")).to_be_visible()


def test_a_question_sent_offline_is_kept_to_send_again_and_never_answered_as_another(
    page: Page, context: BrowserContext, base_url: str, artifacts: Path
) -> None:
    email = new_email("offline")
    register_by_api(base_url, email)
    sign_in(page, email)
    box = page.get_by_role("textbox", name="Message")
    questions = page.locator("article.from-user")

    # A finished exchange (the echo model repeats the question).
    send(page, "first question about tides")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page)).to_contain_text("first question about tides")

    # Offline: the next question cannot reach Parley. It is not shown as asked; it is back in the box.
    context.set_offline(True)
    send(page, "second question about moons")
    expect(page.get_by_role("alert")).to_contain_text("Your message was not sent: Parley cannot be reached.")
    expect(box).to_have_value("second question about moons")
    expect(questions).to_have_count(1)
    page.screenshot(path=artifacts / "21-message-not-sent.png")

    # Online again: Regenerate (under the only answer) answers the question it is under, nothing else.
    context.set_offline(False)
    last_answer(page).get_by_role("button", name="Regenerate").click()
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page)).to_contain_text("first question about tides")
    expect(questions).to_have_count(1)

    # A reload does not lose the question that was never sent either.
    page.reload()
    expect(box).to_have_value("second question about moons")
    expect(questions).to_have_count(1)

    # Sent again, it is answered as itself, and it stays after a reload.
    box.press("Enter")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page)).to_contain_text("second question about moons")
    page.reload()
    expect(questions).to_have_count(2)
    expect(questions.last).to_contain_text("second question about moons")
    expect(last_answer(page)).to_contain_text("second question about moons")
    expect(box).to_have_value("")
    expect(page.get_by_role("alert")).to_have_count(0)
