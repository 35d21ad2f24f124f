"""MCP Apps: the ui:// views of list_accounts, get_account, portfolio_summary and list_drafts, rendered
in headless Chromium inside a small host page that speaks the MCP Apps postMessage protocol to the
view's iframe and relays its tool calls to the real server over Streamable HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from tests.backends import fetch_rows
from tests.server.processes import DEMO_REVIEWER, csdesk_env, demo_tokens, http_server, seeded_demo
from tests.server.test_review_page import CHROMIUM, CHROMIUM_ARGS, _browser_available

REVIEWER = DEMO_REVIEWER
PLANTED = '<img src=x onerror="window.parent.postMessage(\'pwned\', \'*\')"><script>alert(1)</script>'
# What a host builds from a view's declared CSP when it names no outside origin: nothing remote loads.
VIEW_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
HOST_PAGE = """<!doctype html><html><body><iframe id="app" sandbox="allow-scripts" style="width:1000px;
height:600px;border:1px solid #ccc"></iframe><script>
window.hostLog = [];
const frame = document.getElementById("app");
function reply(message) { frame.contentWindow.postMessage(message, "*"); }
window.addEventListener("message", async (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  if (!m || m.jsonrpc !== "2.0") { window.hostLog.push("not json-rpc: " + JSON.stringify(m)); return; }
  window.hostLog.push(m.method || "response");
  if (m.method === "ui/initialize") {
    reply({jsonrpc: "2.0", id: m.id, result: {protocolVersion: "2026-01-26",
           hostInfo: {name: "csdesk-test-host", version: "1"}, hostCapabilities: {serverTools: {}},
           hostContext: {theme: "light", displayMode: "inline"}}});
  } else if (m.method === "ui/notifications/initialized") {
    reply({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: window.TOOL_RESULT});
  } else if (m.method === "tools/call") {
    const result = await window.relayTool(m.params.name, JSON.stringify(m.params.arguments));
    reply({jsonrpc: "2.0", id: m.id, result: JSON.parse(result)});
  } else if (m.method === "ui/notifications/size-changed") {
    frame.style.height = (m.params.height + 20) + "px";
  }
});
</script></body></html>"""


def apps_client(url: str, token: str, *, with_apps: bool = True) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    extensions = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})] if with_apps else None
    return Client(streamable_http_client(url, http_client=http), extensions=extensions)


@pytest.fixture(scope="module")
def apps_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_demo(tmp_path_factory.mktemp("apps") / "csdesk.db")


@pytest.fixture(scope="module")
def tokens(apps_db: Path) -> dict[str, str]:
    return demo_tokens(apps_db, name="apps")


@pytest.fixture(scope="module")
def mcp_url(apps_db: Path) -> Iterator[str]:
    with http_server(csdesk_env(apps_db)) as base_url:
        yield f"{base_url}/mcp"


def dumped(result: Any) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def test_viewed_tools_point_at_mcp_app_views_and_other_clients_get_todays_results(
        mcp_url: str, tokens: dict[str, str]) -> None:
    async with apps_client(mcp_url, tokens["reviewer"]) as with_apps, \
            apps_client(mcp_url, tokens["reviewer"], with_apps=False) as without:
        tools = {tool.name: tool for tool in (await without.list_tools()).tools}
        view = await without.read_resource("ui://csdesk/drafts.html")
        listed = {str(r.uri): r for r in (await without.list_resources()).resources}
        plain = await without.call_tool("list_drafts", {"limit": 5})
        rich = await with_apps.call_tool("list_drafts", {"limit": 5})
    bound = {name: (tool.meta or {}).get("ui", {}).get("resourceUri") for name, tool in tools.items()}
    assert {name: uri for name, uri in bound.items() if uri} == {
        "list_accounts": "ui://csdesk/accounts.html", "get_account": "ui://csdesk/account.html",
        "portfolio_summary": "ui://csdesk/portfolio.html", "list_drafts": "ui://csdesk/drafts.html"}
    content = view.contents[0]
    assert content.mime_type == APP_MIME_TYPE and "ui/initialize" in content.text
    assert "<script src" not in content.text and "<link" not in content.text and "fetch(" not in content.text
    assert listed["ui://csdesk/drafts.html"].meta["ui"]["csp"] == {"connectDomains": [], "resourceDomains": [],
                                                                  "frameDomains": [], "baseUriDomains": []}
    assert "csdesk/viewer" not in (plain.meta or {}) and plain.structured_content == rich.structured_content
    assert plain.content == rich.content
    assert (rich.meta or {})["csdesk/viewer"] == {"role": "reviewer", "reviews": True}


async def render_view(page: Any, client: Client, uri: str, result: dict[str, Any]) -> Any:
    """The view at `uri` in the test host's iframe, given `result` as its tool result; returns the frame."""
    html = (await client.read_resource(uri)).contents[0].text
    html = html.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{VIEW_CSP}">', 1)
    await page.goto("about:blank")  # a fresh document (and script scope) for each view
    await page.set_content(HOST_PAGE)
    await page.evaluate("(result) => { window.TOOL_RESULT = result; }", result)
    await page.evaluate("(html) => { document.getElementById('app').srcdoc = html; }", html)
    frame_element = await page.wait_for_selector("#app")
    frame = await frame_element.content_frame()
    await frame.wait_for_selector("#view table, #view svg, #view h1", timeout=15_000)
    return frame


def browser_or_skip() -> None:
    reason = _browser_available()
    if reason:
        if os.environ.get("CSDESK_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


async def test_the_views_render_in_a_host_and_a_reviewer_approves_from_the_queue(
        mcp_url: str, apps_db: Path, tokens: dict[str, str]) -> None:
    browser_or_skip()
    from playwright.async_api import async_playwright

    screenshots = Path(os.environ["CSDESK_SCREENSHOT_DIR"]) if os.environ.get("CSDESK_SCREENSHOT_DIR") else None
    async with apps_client(mcp_url, tokens["csm"]) as csm, apps_client(mcp_url, tokens["reviewer"]) as reviewer, \
            apps_client(mcp_url, tokens["manager"]) as manager, async_playwright() as playwright:
        accounts = dumped(await csm.call_tool("list_accounts", {"owner": "me"}))
        account_id = accounts["structuredContent"]["items"][0]["id"]
        noted = await csm.call_tool("add_health_note", {"account_id": account_id, "body": PLANTED,
                                                        "sentiment": "negative"})
        assert not noted.is_error, noted
        account = dumped(await csm.call_tool("get_account", {"account_id": account_id}))
        portfolio = dumped(await manager.call_tool("portfolio_summary", {}))
        queue = dumped(await reviewer.call_tool("list_drafts", {"limit": 5}))
        csm_queue = dumped(await csm.call_tool("list_drafts", {"owner": "me", "limit": 5}))

        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(dialog.message))
        relayed: list[str] = []

        async def relay(name: str, arguments: str) -> str:
            relayed.append(name)
            return json.dumps(dumped(await reviewer.call_tool(name, json.loads(arguments))))

        await page.expose_function("relayTool", relay)

        frame = await render_view(page, csm, "ui://csdesk/accounts.html", accounts)
        rows = await frame.locator("#accounts tbody tr").count()
        assert rows == len(accounts["structuredContent"]["items"])
        assert accounts["structuredContent"]["items"][0]["name"] in await frame.inner_text("#accounts")
        if screenshots:
            await page.screenshot(path=str(screenshots / "app-accounts.png"), full_page=True)

        frame = await render_view(page, csm, "ui://csdesk/account.html", account)
        history = account["structuredContent"]["health_history"]
        assert await frame.locator("#health-chart circle").count() == len(history)
        notes = await frame.inner_text("#notes")
        assert PLANTED in notes  # shown as the text it is
        assert await frame.locator("#notes img, #notes script").count() == 0
        if screenshots:
            await page.screenshot(path=str(screenshots / "app-account.png"), full_page=True)

        frame = await render_view(page, manager, "ui://csdesk/portfolio.html", portfolio)
        retention = portfolio["structuredContent"]["retention"]
        assert f"GRR {retention['grr_pct']} %" in await frame.inner_text("#retention")
        assert await frame.locator("#health tr").count() == len(portfolio["structuredContent"]["health"])

        frame = await render_view(page, csm, "ui://csdesk/drafts.html", csm_queue)
        assert await frame.locator("button").count() == 0
        assert "needs the reviewer, manager or admin role" in await frame.inner_text("#read-only")

        frame = await render_view(page, reviewer, "ui://csdesk/drafts.html", queue)
        first = queue["structuredContent"]["items"][0]
        await frame.locator(f'tr[data-draft="{first["id"]}"] button.approve').click()
        await frame.wait_for_selector("#status:not(:empty)")  # the view's CSP allows no eval
        status = await frame.inner_text("#status")
        if screenshots:
            await page.screenshot(path=str(screenshots / "app-review-queue.png"), full_page=True)
        log = await page.evaluate("window.hostLog")
        await browser.close()
    assert relayed == ["review_draft"]
    stored = fetch_rows(apps_db, f"SELECT status FROM drafts WHERE id = {first['id']}")[0][0]
    assert stored in {"approved", "stale"} and (f"is now {stored}" in status or "stale" in status), status
    assert log[:2] == ["ui/initialize", "ui/notifications/initialized"] and errors == []
    assert not any(entry.startswith("not json-rpc") for entry in log), log  # nothing planted spoke
