"""The Audit page in a real browser: an administrator opens Administration → Audit, sees the hash chain verified,
finds a failed sign-in by filtering on its action, opens its details (with its chain links) and exports the
filtered trail as JSON Lines for a SIEM."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.ui import new_email, register_by_api, sign_in

pytestmark = pytest.mark.e2e


def test_audit_trail_filter_details_and_export(browser: Browser, base_url: str, artifacts: Path) -> None:
    member = new_email("audited")
    register_by_api(base_url, member)
    refused = httpx.post(f"{base_url}/api/v1/auth/login", json={"email": member, "password": "not the password"})
    assert refused.status_code == 401

    admin = browser.new_context(
        base_url=base_url, locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True
    ).new_page()
    errors: list[str] = []
    admin.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Admin").click()
        admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit").click()
        expect(admin.get_by_role("heading", level=1, name="Audit trail")).to_be_visible()
        expect(admin).to_have_url(f"{base_url}/admin/audit")
        # Every row so far is chained and unaltered (no checkpoint signed yet on a fresh server, or one is).
        expect(admin.get_by_role("status").filter(has_text="Verified:")).to_be_visible(timeout=20_000)
        table = admin.get_by_role("table", name="Audit events")
        expect(table.get_by_role("rowheader", name="auth.login", exact=True).first).to_be_visible()

        filters = admin.get_by_role("form", name="Filter the audit trail")
        filters.get_by_label("Action").fill("auth.login_failed")
        filters.get_by_role("button", name="Apply").click()
        failed_rows = table.get_by_role("rowheader", name="auth.login_failed", exact=True)
        expect(failed_rows.first).to_be_visible()
        expect(table.get_by_role("rowheader", name="auth.login", exact=True)).to_have_count(0)
        admin.screenshot(path=artifacts / "45-admin-audit.png")

        table.get_by_role("button", name="Details of auth.login_failed").first.click()
        details = admin.get_by_role("region", name="Event auth.login_failed")
        expect(details).to_be_visible()
        expect(details.get_by_text("Previous hash")).to_be_visible()
        expect(details.get_by_label("Data")).to_contain_text("{")

        with admin.expect_download() as download:
            admin.get_by_role("button", name="Export (JSON Lines)").click()
        exported = download.value
        assert exported.suggested_filename.startswith("parley-audit-") and exported.suggested_filename.endswith(
            ".jsonl"
        )
        lines = [json.loads(line) for line in Path(exported.path()).read_text().splitlines()]
        assert lines and {line["action"] for line in lines} == {"auth.login_failed"}
        assert all(len(line["hash"]) == 64 and line["seq"] >= 1 for line in lines)
    finally:
        admin.context.close()
    assert not errors, f"script errors in the page: {errors}"
