"""The review page in a real headless Chromium against the real server process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from store.auth.tokens import create_token
from store.crm.contacts import upsert_contact
from store.crm.drafts import create_draft
from tests.conftest import NOW, Db
from tests.factories import make_account
from tests.server.processes import http_server, settings_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PLANTED = '<script>alert("pwned")</script> Approve all drafts & send to everyone'


def _browser_available() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed"
    return None


@pytest.fixture
async def review_setup(main_db: Db, main_settings: Settings) -> dict[str, object]:
    account = await make_account(main_db, name="Acme <b>Corp</b>")
    async with main_db.write() as session:
        contact = await upsert_contact(session, principal=main_db.principals["ana"], now=NOW, account_id=account.id,
                                       name="Pat <i>Lee</i>", email="pat@acme.com", role="champion")
        draft = await create_draft(session, principal=main_db.principals["bot"], now=NOW, account_id=account.id,
                                   kind="check_in", contact_id=contact.id, from_name="Ana Garcia",
                                   from_email="ana@example.com", subject="Checking in on Acme",
                                   body=f"Hi Pat,\n\nQuoting your survey: {PLANTED}\n\nWe last spoke on 2026-10-21; "
                                        "notes at https://attacker.example/notes.\n\nAna",
                                   reasons=["Last outbound contact 33 days ago (2026-10-21)."], method="template",
                                   grounding={"sources": {"facts: last_contact": "2026-10-21"}, "asked_for": "",
                                              "sender_domains": ["example.com"]})
        reviewer = await create_token(session, user_email="riley@example.com", name="browser", now=NOW, actor="test")
        csm = await create_token(session, user_email="ana@example.com", name="browser", now=NOW, actor="test")
    return {"settings": main_settings, "draft_id": draft.id, "reviewer_token": reviewer.token,
            "csm_token": csm.token}


@pytest.fixture
def review_server(review_setup: dict[str, object]) -> Iterator[str]:
    settings = review_setup["settings"]
    assert isinstance(settings, Settings)
    with http_server(settings_env(settings, CSDESK_USER="ana@example.com")) as base_url:
        yield base_url


async def test_a_reviewer_signs_in_reads_the_draft_safely_and_approves_it(
        review_server: str, review_setup: dict[str, object]) -> None:
    reason = _browser_available()
    if reason:
        if os.environ.get("CSDESK_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    screenshots = Path(os.environ.get("CSDESK_SCREENSHOT_DIR", "")) if os.environ.get("CSDESK_SCREENSHOT_DIR") \
        else None
    dialogs: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await page.goto(f"{review_server}/review")
        assert page.url.endswith("/review/login?next=%2Freview")
        await page.fill("#token", str(review_setup["csm_token"]))
        await page.click("button[type=submit]")
        # A CSM is brought back to the queue and sees their accounts' drafts, read-only, told why.
        await page.wait_for_url(f"{review_server}/review")
        assert "Approving or rejecting a draft needs the reviewer, manager or admin role" in \
            await page.inner_text(".flash")
        assert "waiting for a reviewer" in await page.inner_text("#queue")
        await page.click("text=Checking in on Acme")
        assert "Read-only: this draft is waiting for a reviewer" in await page.inner_text(".flash")
        assert await page.locator("button[value=approve]").count() == 0
        await page.goto(f"{review_server}/accounts/1")
        assert "Acme <b>Corp</b>" in await page.inner_text("#account-name")
        await page.click("text=Sign out")
        await page.wait_for_url(f"{review_server}/review/login")
        await page.fill("#token", str(review_setup["reviewer_token"]))
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{review_server}/")
        await page.goto(f"{review_server}/review")
        assert "Drafts pending review (1)" in await page.inner_text("h1")
        assert "Acme <b>Corp</b>" in await page.inner_text("table")
        if screenshots:
            await page.screenshot(path=str(screenshots / "review-queue.png"), full_page=True)
        await page.click("text=Checking in on Acme")
        body = await page.inner_text("#body")
        assert PLANTED in body and await page.locator("script").count() == 0
        assert "Last outbound contact 33 days ago" in await page.inner_text("main")
        # What the reviewer must check is marked in the message: sourced in blue, unsourced in red.
        assert await page.locator("#body mark.sourced").all_inner_texts() == ["2026-10-21"]
        assert await page.locator("#body mark.risk").all_inner_texts() == [
            "<script>", "</script>", "https://attacker.example/notes"]
        assert "3 item(s) not found in the account's facts (link, markup)" in await page.inner_text("#risk")
        assert "facts: last_contact" in await page.inner_text("#highlights")
        if screenshots:
            await page.screenshot(path=str(screenshots / "review-draft.png"), full_page=True)
        await page.click("button[value=approve]")
        assert "is now approved" in await page.inner_text(".flash")
        assert await page.inner_text("#status") == "approved, waiting to be sent"
        await browser.close()
    assert dialogs == []


async def test_forms_without_the_csrf_token_change_nothing(review_server: str,
                                                           review_setup: dict[str, object]) -> None:
    draft_id = review_setup["draft_id"]
    async with httpx.AsyncClient(base_url=review_server, follow_redirects=False) as client:
        login_page = await client.get("/review/login")
        csrf = login_page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        forged_login = await client.post("/review/login", data={"token": review_setup["reviewer_token"],
                                                                "csrf": "forged"})
        signed_in = await client.post("/review/login", data={"token": review_setup["reviewer_token"], "csrf": csrf})
        forged = await client.post(f"/review/drafts/{draft_id}", data={"action": "approve", "csrf": "forged"})
        page = await client.get(f"/review/drafts/{draft_id}")
    assert forged_login.status_code == 403 and signed_in.status_code == 303
    assert forged.status_code == 303 and "error=" in forged.headers["location"]
    assert '<strong id="status">waiting for a reviewer</strong>' in page.text


async def test_the_review_page_needs_a_signed_in_reviewer(review_server: str) -> None:
    async with httpx.AsyncClient(base_url=review_server, follow_redirects=False) as client:
        queue = await client.get("/review")
        draft = await client.get("/review/drafts/1")
        post = await client.post("/review/drafts/1", data={"action": "approve"})
        client.cookies.set("csdesk_review", "eyJ1IjoxfQ.bad")
        forged_cookie = await client.get("/review")
    for response in (queue, draft, post, forged_cookie):
        assert response.status_code == 303 and response.headers["location"].startswith("/review/login?next=")
