"""Images in the web chat (README, "Images"): attach a picture in the composer, send it to a vision model and see
the model's description of exactly those bytes (the scripted `eyes` model names each image's type, size and
SHA-256 prefix), with the thumbnail on the question, also after a reload; a model without vision says so before
anything is sent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import choose_model, last_answer, new_email, register_by_api, send, sign_in
from tests.images.samples import described, png

pytestmark = pytest.mark.e2e

PICTURE = png(16, 12, (30, 120, 200))


def test_attach_an_image_send_it_to_a_vision_model_and_see_it_after_reload(page: Page, base_url: str) -> None:
    email = new_email("images")
    register_by_api(base_url, email)
    sign_in(page, email)
    choose_model(page, "echo")

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([{"name": "chart.png", "mimeType": "image/png", "buffer": PICTURE}])
    chip = page.locator(".composer .attachment-chip").filter(has_text="chart.png")
    expect(chip).to_have_attribute("data-state", "ready", timeout=20_000)

    # echo cannot read images: the composer says so and does not send.
    expect(page.locator(".composer-warning")).to_contain_text("echo cannot read images")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()

    choose_model(page, "eyes")
    expect(page.locator(".composer-warning")).to_have_count(0)
    send(page, "What does this chart show?")
    question = page.locator("article.from-user").last
    expect(question.get_by_role("img", name="chart.png")).to_have_attribute("src", re.compile("^blob:"))
    seen = described(PICTURE, "image/png", 16, 12)
    expect(last_answer(page)).to_contain_text(f"{seen} What does this chart show?", timeout=30_000)

    page.reload()
    question = page.locator("article.from-user").last
    thumbnail = question.get_by_role("img", name="Image sent with the message")
    expect(thumbnail).to_have_attribute("src", re.compile("^blob:"), timeout=20_000)
    assert thumbnail.evaluate("image => image.complete && image.naturalWidth") == 16
    expect(last_answer(page)).to_contain_text(seen)
