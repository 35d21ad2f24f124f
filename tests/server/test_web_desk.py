"""The web desk over real HTTP against the real server process on the demo portfolio: what each person
sees, the filters in the URL, bad filters refused, Host and Origin checked on every page."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.backends import fetch_rows
from tests.server.processes import (
    DEMO_CSM,
    DEMO_MANAGER,
    DEMO_REVIEWER,
    csdesk_env,
    demo_tokens,
    http_server,
    run_csdesk,
    seeded_demo,
)
from tests.server.test_review_page import CHROMIUM, CHROMIUM_ARGS, _browser_available

MANAGER = DEMO_MANAGER
REVIEWER = DEMO_REVIEWER


@pytest.fixture(scope="module")
def desk_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_demo(tmp_path_factory.mktemp("desk") / "csdesk.db")


@pytest.fixture(scope="module")
def tokens(desk_db: Path) -> dict[str, str]:
    return demo_tokens(desk_db, name="desk")


@pytest.fixture(scope="module")
def desk(desk_db: Path) -> Iterator[str]:
    with http_server(csdesk_env(desk_db)) as base_url:
        yield base_url


@contextmanager
def signed_in(base_url: str, token: str, *, then: str = "/") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False) as client:
        form = client.get("/review/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        answer = client.post("/review/login", data={"token": token, "csrf": csrf.group(1), "next": then})
        assert answer.status_code == 303, answer.text
        yield client


def rows_of(html: str, table_id: str) -> list[str]:
    """The body rows of a table on a page, as their markup."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1] if "<tbody>" in table else table
    return re.findall(r"<tr[ >].*?</tr>", body, flags=re.S)


def test_a_csm_works_their_own_book_from_the_front_page(desk: str, desk_db: Path, tokens: dict[str, str]) -> None:
    ((owned,),) = fetch_rows(desk_db, f"SELECT count(*) FROM accounts a JOIN users u ON u.id = a.owner_id "
                                      f"WHERE u.email = '{DEMO_CSM}' AND a.status = 'active'")
    with signed_in(desk, tokens["csm"]) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert "My accounts" in page.text
    assert f"1–{min(25, owned)} of {owned} accounts" in page.text
    rows = rows_of(page.text, "accounts")
    assert len(rows) == min(25, owned)
    assert all(DEMO_CSM in row for row in rows)
    # ARR, largest first, by default.
    arrs = [Decimal(re.search(r'class="num">([\d,.]+) USD', row).group(1).replace(",", "")) for row in rows]
    assert arrs == sorted(arrs, reverse=True)


def test_filters_sort_and_paging_live_in_the_url(desk: str, desk_db: Path, tokens: dict[str, str]) -> None:
    at_risk = fetch_rows(desk_db, "SELECT name, health_score FROM accounts WHERE health_status = 'at_risk' "
                                  "AND status = 'active' ORDER BY health_score")
    with signed_in(desk, tokens["manager"]) as client:
        filtered = client.get("/", params={"status": "at_risk", "sort": "health_score", "size": "2"})
        second = client.get("/", params={"status": "at_risk", "sort": "health_score", "size": "2", "page": "2"})
    assert len(at_risk) > 2
    first_rows, second_rows = rows_of(filtered.text, "accounts"), rows_of(second.text, "accounts")
    assert len(first_rows) == 2 and len(second_rows) == 2
    assert all("at risk" in row for row in first_rows + second_rows)
    names = [re.search(r'/accounts/\d+">([^<]+)</a>', row).group(1) for row in first_rows + second_rows]
    assert names == [html.escape(name) for name, _ in at_risk[:4]]
    assert f"1–2 of {len(at_risk)} accounts" in filtered.text
    # The next link keeps the filters, and moves one page on.
    next_link = re.search(r'href="([^"]+)" rel="next"', filtered.text).group(1).replace("&amp;", "&")
    assert "status=at_risk" in next_link and "sort=health_score" in next_link and "page=2" in next_link


def test_a_bad_filter_is_refused_with_every_problem_named(desk: str, tokens: dict[str, str]) -> None:
    with signed_in(desk, tokens["manager"]) as client:
        page = client.get("/", params={"status": "doomed", "renews": "7", "size": "5000"})
        renewals = client.get("/renewals", params={"days": "soon"})
    assert page.status_code == 400
    assert "status=&#39;doomed&#39; is not one of: strongly_thriving" in page.text
    assert "renews=&#39;7&#39; is not one of: 30, 60" in page.text
    assert "size=&#39;5000&#39; must be a whole number from 1 to 200" in page.text
    assert 'id="accounts"' not in page.text
    assert renewals.status_code == 400 and "days=&#39;soon&#39; must be a whole number" in renewals.text


def test_renewals_show_forecast_against_target(desk: str, desk_db: Path, tokens: dict[str, str]) -> None:
    (count, target, forecast), = fetch_rows(
        desk_db, "SELECT count(*), sum(target_amount), sum(forecast_amount) FROM renewals "
                 "WHERE stage IN ('upcoming', 'in_discussion', 'proposal_sent', 'verbal_commit') "
                 "AND due_date <= '2027-02-21'")
    with signed_in(desk, tokens["manager"]) as client:
        page = client.get("/renewals", params={"days": "90", "size": "200"})
    assert page.status_code == 200
    forecast_card = page.text.split('id="forecast"', 1)[1].split("</div>", 1)[0]
    assert f"<strong>{count}</strong> renewals" in forecast_card
    assert f"{Decimal(str(target)):,.2f} USD" in forecast_card and f"{Decimal(str(forecast)):,.2f} USD" in forecast_card
    assert len(rows_of(page.text, "renewals")) == count


def test_a_manager_sees_the_portfolio_dashboard_with_charts_and_their_numbers(
        desk: str, desk_db: Path, tokens: dict[str, str]) -> None:
    statuses = dict(fetch_rows(desk_db, "SELECT health_status, count(*) FROM accounts WHERE status = 'active' "
                                        "GROUP BY health_status"))
    with signed_in(desk, tokens["manager"]) as client:
        page = client.get("/portfolio")
    with signed_in(desk, tokens["csm"]) as client:
        refused = client.get("/portfolio")
    assert page.status_code == 200
    for chart in ("health-distribution", "pipeline-chart", "retention-trend", "churn-by-segment"):
        svg = page.text.split(f'<svg id="{chart}"', 1)[1].split("</svg>", 1)[0]
        assert "<rect" in svg or "<path" in svg, chart
    health = page.text.split('<svg id="health-distribution"', 1)[1].split("</svg>", 1)[0]
    assert None not in statuses  # the demo assesses every account
    for status, accounts in statuses.items():
        assert f"{status.replace('_', ' ')} · now: {accounts}</title>" in health
    assert len(rows_of(page.text, "trend-table")) == 13  # the header and twelve month ends
    assert refused.status_code == 403 and "for managers and admins" in refused.text


def test_the_account_page_reads_as_a_page_and_crm_text_stays_inert(
        desk: str, desk_db: Path, tokens: dict[str, str]) -> None:
    (account_id, name), = fetch_rows(desk_db, "SELECT a.id, a.name FROM accounts a JOIN users u ON u.id = a.owner_id "
                                              f"WHERE u.email = '{DEMO_CSM}' ORDER BY a.arr DESC LIMIT 1")
    (assessments,), = fetch_rows(desk_db, f"SELECT count(*) FROM assessments WHERE account_id = {account_id}")
    planted = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    env = csdesk_env(desk_db, CSDESK_USER=DEMO_CSM)
    with signed_in(desk, tokens["csm"]) as client:
        before = client.get(f"/accounts/{account_id}")
        noted = run_csdesk("import", "touchpoints", "-", env=env,
                           stdin="account,kind,occurred_at,summary\n"
                                 f'"{name}",email_out,2026-11-22,"{planted.replace(chr(34), chr(34) * 2)}"\n')
        page = client.get(f"/accounts/{account_id}")
        missing = client.get("/accounts/999999")
    assert before.status_code == 200 and noted.returncode == 0, noted.stderr
    assert f'<h1 id="account-name">{html.escape(name)}' in page.text
    # The touchpoint came in after the account was assessed: the assessment says it predates it.
    assert 'id="inputs-changed"' not in before.text
    changed = page.text.split('id="inputs-changed">', 1)[1].split("</p>", 1)[0]
    assert changed.startswith("assessed before: touchpoints imported on ")
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert "&lt;img src=x onerror=" in page.text and "<img" not in page.text
    health = page.text.split('<svg id="health-chart"', 1)[1].split("</svg>", 1)[0]
    assert health.count("<circle") == min(assessments, 120)
    assert health.count('class="band-') == 5
    assert missing.status_code == 404 and "no account with id 999999" in missing.text


def test_the_review_queue_pages_filters_and_shows_health_and_arr(desk: str, desk_db: Path,
                                                                  tokens: dict[str, str]) -> None:
    (pending,), = fetch_rows(desk_db, "SELECT count(*) FROM drafts WHERE status = 'pending_review'")
    (check_ins,), = fetch_rows(desk_db, "SELECT count(*) FROM drafts WHERE status = 'pending_review' "
                                        "AND kind = 'check_in'")
    with signed_in(desk, tokens["reviewer"]) as client:
        first = client.get("/review")
        kinds = client.get("/review", params={"kind": "check_in", "size": "200"})
        old = client.get("/review", params={"older_than": "30"})
    assert pending > 25
    rows = rows_of(first.text, "queue")
    assert len(rows) == 25 and f"1–25 of {pending} drafts" in first.text
    assert all('href="/accounts/' in row and " USD</td>" in row and 'class="badge' in row for row in rows)
    assert len(rows_of(kinds.text, "queue")) == check_ins and all("check in" in r for r in rows_of(kinds.text, "queue"))
    assert "No drafts" in old.text or "Nothing pending review matches" in old.text
    draft_id = re.search(r"/review/drafts/(\d+)", rows[0]).group(1)
    with signed_in(desk, tokens["reviewer"]) as client:
        draft = client.get(f"/review/drafts/{draft_id}").text
    assert 'id="account-link"' in draft and 'class="reject"' in draft and 'class="approve"' in draft


def test_every_page_checks_host_and_origin(desk: str, tokens: dict[str, str]) -> None:
    with signed_in(desk, tokens["manager"]) as client:
        for path in ("/", "/renewals", "/portfolio", "/accounts/1", "/review", "/review/login", "/login"):
            assert client.get(path, headers={"Host": "evil.example"}).status_code == 421, path
        forged = client.post("/logout", data={"csrf": "x"}, headers={"Origin": "https://evil.example"})
    login = httpx.post(f"{desk}/review/login", data={"token": tokens["manager"], "csrf": "x"},
                       headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and login.status_code == 403


def test_signing_in_returns_to_the_page_asked_for_and_never_off_the_site(desk: str, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=desk, follow_redirects=False) as client:
        asked = client.get("/renewals?days=30")
        assert asked.status_code == 303 and asked.headers["location"] == "/review/login?next=%2Frenewals%3Fdays%3D30"
    for target, lands in (("/renewals?days=30", "/renewals?days=30"), ("//evil.example/x", "/"),
                          ("https://evil.example", "/")):
        with httpx.Client(base_url=desk, follow_redirects=False) as client:
            form = client.get("/review/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            answer = client.post("/review/login", data={"token": tokens["csm"], "csrf": csrf, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == lands, target


async def test_every_page_loads_in_a_real_browser_with_no_script_run(desk: str, desk_db: Path,
                                                                     tokens: dict[str, str]) -> None:
    reason = _browser_available()
    if reason:
        if os.environ.get("CSDESK_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    ((account_id,),) = fetch_rows(desk_db, "SELECT id FROM accounts WHERE health_status = 'at_risk' "
                                           "ORDER BY arr DESC LIMIT 1")
    screenshots = Path(os.environ["CSDESK_SCREENSHOT_DIR"]) if os.environ.get("CSDESK_SCREENSHOT_DIR") else None
    pages = {"desk-accounts": ("/", "#accounts"), "desk-renewals": ("/renewals", "#renewals"),
             "desk-account": (f"/accounts/{account_id}", "#health-chart"),
             "desk-portfolio": ("/portfolio", "#retention-trend"), "desk-review-queue": ("/review", "#queue")}
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(dialog.message))
        await page.goto(f"{desk}/portfolio")
        await page.fill("#token", tokens["manager"])
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{desk}/portfolio")
        for name, (path, landmark) in pages.items():
            await page.goto(f"{desk}{path}")
            assert await page.locator(landmark).count() == 1, path
            assert await page.locator("script").count() == 0, path
            if screenshots:
                await page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        # In a narrow window nothing on the account page is wider than its card (long email addresses
        # wrap rather than push a table out).
        await page.set_viewport_size({"width": 900, "height": 900})
        await page.goto(f"{desk}/accounts/{account_id}")
        overflowing = await page.evaluate(
            "[...document.querySelectorAll('.card')].filter(card => card.scrollWidth > card.clientWidth + 1)"
            ".map(card => card.id || card.querySelector('h2')?.textContent || 'a card')")
        assert overflowing == [], f"wider than their card at 900 px: {overflowing}"
        await page.set_viewport_size({"width": 1280, "height": 900})
        # The filters are a form whose result is a URL to share.
        await page.goto(f"{desk}/")
        await page.select_option("select[name=status]", "at_risk")
        await page.click("form.filters button")
        await page.wait_for_url(re.compile(r".*status=at_risk.*"))
        statuses = await page.locator("#accounts tbody .badge").all_inner_texts()
        await browser.close()
    assert statuses and all(text.startswith("at risk") for text in statuses)
    assert errors == []
