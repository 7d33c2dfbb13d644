"""Reports and review in a real browser: a user reports an answer (reason and text) from the chat; an administrator
finds it on the Review page, reads the reported exchange, confirms it with a note, and finds it under Confirmed."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e


def test_a_reported_answer_is_reviewed(browser: Browser, page: Page, base_url: str, artifacts: Path) -> None:
    member = new_email("reporter")
    register_by_api(base_url, member)
    sign_in(page, member)
    send(page, "tell me something unsafe please")
    answer = last_answer(page)
    expect(answer).to_contain_text("tell me something unsafe please")
    answer.get_by_role("button", name="Report this answer").click()
    dialog = page.get_by_role("dialog", name="Report this answer")
    dialog.get_by_role("radio", name="Harmful or unsafe").check()
    dialog.get_by_role("textbox", name="Tell us more (optional)").fill("it should have refused")
    page.screenshot(path=artifacts / "60-report-answer.png")
    dialog.get_by_role("button", name="Report").click()
    expect(dialog).to_be_hidden()
    expect(answer.get_by_role("status")).to_have_text("Thanks, your report was sent")

    admin = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.goto("/admin")
        admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Review").click()
        expect(admin.get_by_role("heading", level=1, name="Review")).to_be_visible()
        admin.get_by_role("button", name=f"Open the report by {member}").click()
        report = admin.get_by_role("region", name="Report")
        expect(report.get_by_text("tell me something unsafe please").first).to_be_visible()
        expect(report).to_contain_text("it should have refused")
        expect(report).to_contain_text("No detector scores for this answer.")
        report.get_by_label("Note (optional; saved with the action)").fill("confirmed: it did not refuse")
        report.get_by_role("button", name="Confirm").click()
        history = report.get_by_role("list", name="History")
        expect(history).to_contain_text("Confirmed")
        expect(history).to_contain_text("confirmed: it did not refuse")
        expect(history).to_contain_text(ADMIN_EMAIL)
        admin.screenshot(path=artifacts / "61-review-report.png", full_page=True)

        # no longer open: gone from the default (open) list, listed under Confirmed
        table = admin.get_by_role("table", name="Reports")
        expect(admin.get_by_role("button", name=f"Open the report by {member}")).to_have_count(0)
        filters = admin.get_by_role("form", name="Filter the reports")
        filters.get_by_label("Status").select_option("confirmed")
        filters.get_by_role("button", name="Apply").click()
        row = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name=member))
        expect(row).to_contain_text("Confirmed")
    finally:
        admin.context.close()
