"""Files and grounded answers in a real browser: attach a document in the composer, watch it upload and get
read, ask about it and see the answer's sources; the Files page lists and deletes files; a knowledge base is
created, filled from my files, shared by email, and used by the colleague it was shared with; a file uploaded
straight into a knowledge base is read there, listed among my files, and answers from it.

The scripted `echo` model repeats the question, so a question that ends in `[1]` yields an answer citing source 1;
the sources themselves (the `done` event's citations) come from Parley's retrieval over the uploaded file.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.ui import choose_model, last_answer, new_email, register_by_api, send, sign_in

pytestmark = pytest.mark.e2e

# Reading a file (extract, chunk, embed with the bundled model) runs in the background: allow it time on a busy
# two-core machine.
INGEST_TIMEOUT = 90_000
ANSWER_TIMEOUT = 60_000


def _text_file(name: str, text: str) -> dict[str, object]:
    return {"name": name, "mimeType": "text/plain", "buffer": text.encode()}


def _choose_files(page: Page, button_name: str, *files: dict[str, object]) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name=button_name).click()
    chooser.value.set_files(list(files))  # type: ignore[arg-type]


def _wait_for_answer(page: Page) -> None:
    """Until the last answer is finished; it must have finished well (an error fails at once, with its text)."""
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", re.compile("^(done|error)$"), timeout=ANSWER_TIMEOUT)
    if answer.get_attribute("data-status") == "error":
        raise AssertionError(f"the answer failed: {answer.inner_text()}")


def _ask_in_a_new_chat_with(page: Page, knowledge_base: str, question: str) -> Locator:
    """A new chat with the echo model and `knowledge_base` picked for the message; the finished answer."""
    page.get_by_role("button", name="New chat").click()
    choose_model(page, "echo")
    page.get_by_role("button", name="Use knowledge bases").click()
    page.get_by_role("checkbox", name=re.compile(re.escape(knowledge_base))).check()
    page.keyboard.press("Escape")
    expect(page.locator(".composer .kb-chip")).to_contain_text(knowledge_base)
    send(page, question)
    _wait_for_answer(page)
    return last_answer(page)


def _open_nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name=name).click()


def test_attach_a_file_ask_and_see_its_sources(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("rag")
    register_by_api(base_url, email)
    sign_in(page, email)
    choose_model(page, "echo")

    code = f"AZURE-{uuid.uuid4().hex[:6].upper()}"
    filename = f"heron-{uuid.uuid4().hex[:6]}.txt"
    fact = f"Project Heron notes.\n\nThe launch code of Project Heron is {code}. It was chosen by the night shift.\n"
    _choose_files(page, "Attach files", _text_file(filename, fact))

    chip = page.locator(".composer .attachment-chip").filter(has_text=filename)
    expect(chip).to_be_visible()
    expect(chip).to_have_attribute("data-state", "ready", timeout=INGEST_TIMEOUT)
    page.screenshot(path=artifacts / "20-composer-attachment.png")

    send(page, "What is the launch code of Project Heron? [1]")
    question = page.locator("article.from-user").last
    expect(question.locator(".attachment-chip")).to_contain_text(filename)
    expect(page.locator(".composer .attachment-chip")).to_have_count(0)
    _wait_for_answer(page)
    answer = last_answer(page)

    sources = answer.get_by_role("region", name="Sources")
    expect(sources).to_contain_text(filename)
    citation = answer.get_by_role("button", name=f"Source 1: {filename}")
    expect(citation).to_be_visible()
    citation.click()
    panel = answer.get_by_role("dialog")
    expect(panel).to_contain_text(filename)
    expect(panel).to_contain_text(code)
    page.screenshot(path=artifacts / "21-answer-sources.png")
    with page.expect_download() as download:
        panel.get_by_role("button", name="Open file").click()
    assert download.value.suggested_filename == filename
    assert code in Path(download.value.path()).read_text()
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)

    # the citations are stored with the answer
    page.reload()
    expect(last_answer(page).get_by_role("region", name="Sources")).to_contain_text(filename)

    # the Files page lists the file; deleting asks first
    _open_nav(page, "Files")
    row = page.get_by_role("row").filter(has_text=filename)
    expect(row).to_be_visible()
    expect(row).to_contain_text("Ready")
    page.screenshot(path=artifacts / "22-files-page.png")
    row.get_by_role("button", name=f"Delete {filename}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(filename)
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("row").filter(has_text=filename)).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=filename)).to_have_count(0)


def test_refused_upload_is_explained(page: Page, base_url: str) -> None:
    email = new_email("refused")
    register_by_api(base_url, email)
    sign_in(page, email)
    _choose_files(
        page,
        "Attach files",
        {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00" + b"\x00" * 64},
    )
    chip = page.locator(".composer .attachment-chip").filter(has_text="tool.exe")
    expect(chip).to_have_attribute("data-state", re.compile("rejected|failed"), timeout=INGEST_TIMEOUT)
    expect(chip.locator(".attachment-error")).not_to_be_empty()
    chip.get_by_role("button", name="Remove tool.exe").click()
    expect(chip).to_have_count(0)


def test_knowledge_base_shared_by_email(page: Page, base_url: str, artifacts: Path) -> None:
    owner = new_email("kb-owner")
    colleague = new_email("kb-reader")
    register_by_api(base_url, owner)
    register_by_api(base_url, colleague)
    sign_in(page, owner)

    # a file uploaded on the Files page
    tag = uuid.uuid4().hex[:6]
    filename = f"travel-policy-{tag}.txt"
    policy = f"Travel policy.\n\nTrain tickets in first class are reimbursed for trips longer than {tag} minutes.\n"
    _open_nav(page, "Files")
    _choose_files(page, "Upload files", _text_file(filename, policy))
    row = page.get_by_role("row").filter(has_text=filename)
    expect(row).to_contain_text("Ready", timeout=INGEST_TIMEOUT)

    # a knowledge base, filled from my files
    _open_nav(page, "Knowledge bases")
    name = f"Handbook {tag}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description (optional)").fill("Company policies")
    page.get_by_role("button", name="Create knowledge base").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    page.get_by_label("File to add").select_option(label=filename)
    page.get_by_role("button", name="Add from my files").click()
    expect(page.get_by_role("row").filter(has_text=filename)).to_be_visible()

    # shared with a colleague by email, to read
    sharing = page.get_by_role("region", name="Sharing")
    sharing.get_by_role("textbox", name="Email").fill(colleague)
    sharing.get_by_label("Access").select_option("read")
    sharing.get_by_role("button", name="Share").click()
    expect(sharing.get_by_role("list", name="Sharing")).to_contain_text(colleague)
    page.screenshot(path=artifacts / "23-knowledge-base.png", full_page=True)

    # the colleague sees it, read-only, and can ask it a question from the composer
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    sign_in(page, colleague)
    _open_nav(page, "Knowledge bases")
    card = page.locator(".kb-card").filter(has_text=name)
    expect(card).to_contain_text("Can read")
    expect(card).to_contain_text("1 file")
    card.get_by_role("link").click()
    expect(page.get_by_role("row").filter(has_text=filename)).to_be_visible()
    expect(page.get_by_role("button", name="Add from my files")).to_have_count(0)
    expect(page.get_by_role("region", name="Sharing")).to_have_count(0)

    answer = _ask_in_a_new_chat_with(page, name, "Are first class train tickets reimbursed? [1]")
    expect(answer.get_by_role("region", name="Sources")).to_contain_text(filename)

    # the knowledge base attached to the whole conversation, then detached
    page.get_by_role("button", name="Knowledge bases (0)").click()
    page.get_by_label("Knowledge base to attach").select_option(label=name)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("button", name=f"Detach {name}")).to_be_visible()
    page.screenshot(path=artifacts / "24-conversation-knowledge-bases.png")
    page.get_by_role("button", name=f"Detach {name}").click()
    expect(page.get_by_text("None attached.")).to_be_visible()


def test_upload_straight_into_a_knowledge_base(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("kb-upload")
    register_by_api(base_url, email)
    sign_in(page, email)

    # a new knowledge base, opened
    tag = uuid.uuid4().hex[:6]
    name = f"Field notes {tag}"
    _open_nav(page, "Knowledge bases")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create knowledge base").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_text("No files in this knowledge base yet.")).to_be_visible()

    # a file uploaded from the knowledge base's own page lands in it, and is read
    code = f"OSPREY-{tag.upper()}"
    filename = f"osprey-{tag}.txt"
    fact = f"Project Osprey notes.\n\nThe meeting point of Project Osprey is gate {code}, behind the old mill.\n"
    _choose_files(page, "Upload into this knowledge base", _text_file(filename, fact))
    row = page.get_by_role("row").filter(has_text=filename)
    expect(row).to_contain_text("Ready", timeout=INGEST_TIMEOUT)
    expect(page.get_by_role("heading", name=re.compile(r"^Files\s*\(1\)$"))).to_be_visible()
    expect(page.get_by_role("list", name="Upload into this knowledge base")).to_have_count(0)
    page.screenshot(path=artifacts / "27-knowledge-base-upload.png", full_page=True)

    # the list counts it, and opening the knowledge base again shows it
    page.get_by_role("link", name="All knowledge bases").click()
    card = page.locator(".kb-card").filter(has_text=name)
    expect(card).to_contain_text("1 file")
    card.get_by_role("link", name=f"Open {name}").click()
    expect(page.get_by_role("row").filter(has_text=filename)).to_contain_text("Ready")

    # it is my own file too
    _open_nav(page, "Files")
    expect(page.get_by_role("row").filter(has_text=filename)).to_contain_text("Ready")

    # a new chat asks the knowledge base about it
    answer = _ask_in_a_new_chat_with(page, name, "Where is the meeting point of Project Osprey? [1]")
    expect(answer.get_by_role("region", name="Sources")).to_contain_text(filename)
    answer.get_by_role("button", name=f"Source 1: {filename}").click()
    expect(answer.get_by_role("dialog")).to_contain_text(code)


def test_attachments_on_a_360px_phone(page: Page, base_url: str, artifacts: Path) -> None:
    email = new_email("rag-phone")
    register_by_api(base_url, email)
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, email)
    filename = "a-rather-long-file-name-for-a-small-screen.txt"
    _choose_files(page, "Attach files", _text_file(filename, "Small screens matter.\n"))
    chip = page.locator(".composer .attachment-chip")
    expect(chip).to_have_attribute("data-state", "ready", timeout=INGEST_TIMEOUT)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the chat scrolls sideways"
    page.screenshot(path=artifacts / "25-mobile-attachment.png")
    page.get_by_role("button", name="Open menu").click()
    _open_nav(page, "Files")
    expect(page.get_by_role("row").filter(has_text=filename)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the Files page scrolls sideways"
    page.screenshot(path=artifacts / "26-mobile-files.png")
