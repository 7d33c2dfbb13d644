"""Groups in a real browser: an administrator creates a group (a taken name is explained) and adds a colleague by
email; a user shares a knowledge base with the group; the colleague sees it among their knowledge bases, and no
longer once the administrator takes them out of the group. The group pages fit a 360 px phone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import new_email, register_by_api, sign_in

pytestmark = pytest.mark.e2e


def _open_nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name=name).click()


def _fits_360(page: Page, what: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"{what} scrolls sideways at 360 px"


def test_a_knowledge_base_shared_with_a_group(browser: Browser, base_url: str, artifacts: Path) -> None:
    owner = new_email("group-owner")
    colleague = new_email("group-member")
    register_by_api(base_url, owner)
    register_by_api(base_url, colleague, full_name="Grace Member")
    tag = uuid.uuid4().hex[:6]
    group = f"Research {tag}"
    base = f"Lab notebook {tag}"

    admin = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 800}).new_page()
    user = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 800}).new_page()
    try:
        # the administrator creates the group
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        _open_nav(admin, "Admin")
        admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Groups").click()
        expect(admin.get_by_role("heading", level=1, name="Groups")).to_be_visible()
        admin.get_by_role("textbox", name="Name").fill(group)
        admin.get_by_role("textbox", name="Description (optional)").fill("People of the lab")
        admin.get_by_role("button", name="Create group").click()
        expect(admin.get_by_text(f"Group “{group}” created.")).to_be_visible()
        groups = admin.get_by_role("table", name="Groups")
        expect(groups.get_by_role("link", name=group)).to_be_visible()

        # a second group of the same name, whatever its case, is refused in words
        admin.get_by_role("textbox", name="Name").fill(group.upper())
        admin.get_by_role("button", name="Create group").click()
        expect(admin.get_by_role("alert")).to_contain_text(f"A group named “{group.upper()}” already exists.")

        # the search finds it; it opens to manage its members
        admin.get_by_role("searchbox", name="Search groups by name or description").fill(tag)
        expect(groups.get_by_role("link")).to_have_count(1)
        admin.screenshot(path=artifacts / "30-admin-groups.png")
        groups.get_by_role("link", name=group).click()
        expect(admin.get_by_role("heading", level=1, name=group)).to_be_visible()
        admin.get_by_role("textbox", name="Email").fill(colleague)
        admin.get_by_role("button", name="Add member").click()
        members = admin.get_by_role("table", name=f"Members of {group}")
        row = members.locator(f'tr[data-email="{colleague}"]')
        expect(row).to_contain_text("Grace Member")
        expect(admin.get_by_role("heading", name="Members (1)")).to_be_visible()
        admin.screenshot(path=artifacts / "31-admin-group-members.png")

        # both group pages fit a phone
        admin.set_viewport_size({"width": 360, "height": 740})
        expect(row).to_be_visible()
        _fits_360(admin, "the group page")
        admin.screenshot(path=artifacts / "32-admin-group-phone.png", full_page=True)
        admin.get_by_role("link", name="All groups").click()
        expect(admin.get_by_role("table", name="Groups")).to_be_visible()
        _fits_360(admin, "the groups page")
        admin.screenshot(path=artifacts / "33-admin-groups-phone.png")
        admin.set_viewport_size({"width": 1280, "height": 800})

        # a user shares a knowledge base with the group
        sign_in(user, owner)
        _open_nav(user, "Knowledge bases")
        user.get_by_label("Name").fill(base)
        user.get_by_role("button", name="Create knowledge base").click()
        expect(user.get_by_role("heading", name=base)).to_be_visible()
        sharing = user.get_by_role("region", name="Sharing")
        sharing.get_by_role("radio", name="A group").check()
        # other tests may have made groups on this server: find this one by its tag
        sharing.get_by_role("searchbox", name="Find a group").fill(tag)
        expect(sharing.get_by_role("option", name=group)).to_have_count(1)
        sharing.get_by_role("combobox", name="Group").select_option(label=group)
        sharing.get_by_label("Access").select_option("read")
        sharing.get_by_role("button", name="Share").click()
        grants = sharing.get_by_role("list", name="Sharing")
        expect(grants).to_contain_text(f"Group: {group}")
        user.screenshot(path=artifacts / "34-knowledge-base-shared-with-group.png", full_page=True)
        user.reload()
        expect(user.get_by_role("region", name="Sharing").get_by_role("list", name="Sharing")).to_contain_text(
            f"Group: {group}"
        )

        # the colleague, a member, sees it
        user.get_by_role("button", name="Sign out").click()
        expect(user.get_by_role("button", name="Sign in")).to_be_visible()
        sign_in(user, colleague)
        _open_nav(user, "Knowledge bases")
        card = user.locator(".kb-card").filter(has_text=base)
        expect(card).to_contain_text("Can read")

        # taken out of the group, they lose it on their next request
        admin.get_by_role("table", name="Groups").get_by_role("link", name=group).click()
        admin.get_by_role("button", name=f"Remove {colleague} from the group").click()
        expect(admin.get_by_text("No members yet. Add people by their email.")).to_be_visible()
        user.reload()
        expect(user.get_by_role("heading", level=1, name="Knowledge bases")).to_be_visible()
        expect(user.locator(".kb-card").filter(has_text=base)).to_have_count(0)

        # deleting the group asks first
        admin.get_by_role("button", name="Delete group").click()
        dialog = admin.get_by_role("alertdialog")
        expect(dialog).to_contain_text(group)
        dialog.get_by_role("button", name="Delete group").click()
        expect(admin.get_by_text(f"Group “{group}” deleted.")).to_be_visible()
        expect(admin.get_by_role("table", name="Groups").get_by_role("link", name=group)).to_have_count(0)
    finally:
        user.context.close()
        admin.context.close()
