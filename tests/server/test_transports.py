"""The real server process over stdio and over Streamable HTTP, driven by the SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.server.processes import CSDESK, DEMO_CSM, csdesk_env, run_csdesk
from tests.server.processes import http_server as running_http_server
from tests.tools.helpers import call_error, call_ok
from tests.tools.test_catalogue import EXPECTED_TOOLS


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "csdesk.db"
    result = run_csdesk("demo", env=csdesk_env(path))
    assert result.returncode == 0, result.stderr
    return path


async def test_csdesk_serve_over_stdio_lists_tools_and_answers_the_retention_question(demo_db: Path) -> None:
    params = StdioServerParameters(command=CSDESK, args=["serve"], env=csdesk_env(demo_db, CSDESK_USER=DEMO_CSM))
    async with Client(params) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        page = await call_ok(client, "list_accounts", owner="me", health_status=["at_risk", "needs_attention"],
                             renewal_within_days=90)
        account = await call_ok(client, "get_account", account_id=page["items"][0]["id"])
    assert {"list_accounts", "get_account", "update_renewal"} <= tools
    assert page["total"] >= 1
    assert all(row["owner"] == DEMO_CSM for row in page["items"])
    arrs = [float(row["arr"]) for row in page["items"]]
    assert arrs == sorted(arrs, reverse=True)
    assert account["account"]["owner"] == DEMO_CSM and account["contacts"]


def test_csdesk_serve_refuses_to_start_without_a_known_user(demo_db: Path) -> None:
    missing = run_csdesk("serve", env=csdesk_env(demo_db))
    unknown = run_csdesk("serve", env=csdesk_env(demo_db, CSDESK_USER="ghost@example.com"))
    assert missing.returncode == 2 and "set CSDESK_USER" in missing.stderr
    assert unknown.returncode == 2 and "ghost@example.com is not a csdesk user" in unknown.stderr


@pytest.fixture(scope="module")
def tokens(demo_db: Path) -> dict[str, str]:
    """Tokens for a demo CSM and a reviewer; one for the manager that is then revoked; one that expired
    (a one-day token made three days before the server's today)."""
    env = csdesk_env(demo_db)
    csm = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "tests", env=env).stdout.strip()
    revoked = run_csdesk("tokens", "create", "--user", "morgan.lee@example.com", "--name", "old", env=env)
    listed = run_csdesk("tokens", "list", env=env).stdout
    revoked_id = next(line.split()[0] for line in listed.splitlines() if " old " in line)
    assert run_csdesk("tokens", "revoke", revoked_id, env=env).returncode == 0
    earlier = csdesk_env(demo_db, CSDESK_TODAY="2026-11-20")
    expired = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "short", "--expires-in-days", "1",
                         env=earlier)
    reviewer = run_csdesk("tokens", "create", "--user", "riley.chen@example.com", "--name", "review", env=env)
    return {"csm": csm, "revoked": revoked.stdout.strip(), "expired": expired.stdout.strip(),
            "reviewer": reviewer.stdout.strip()}


@pytest.fixture(scope="module")
def mcp_url(demo_db: Path) -> Iterator[str]:
    # No CSDESK_USER: over HTTP the token says who is calling.
    with running_http_server(csdesk_env(demo_db)) as base_url:
        yield f"{base_url}/mcp"


def authorised(url: str, token: str, mode: str = "auto") -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_streamable_http_serves_both_protocol_eras(mcp_url: str, tokens: dict[str, str], mode: str) -> None:
    async with authorised(mcp_url, tokens["csm"], mode) as client:
        tools = (await client.list_tools()).tools
        renewals = await call_ok(client, "list_renewals", owner="me", within_days=90)
        error = await call_error(client, "get_account", account_id=999_999)
    assert {tool.name for tool in tools} == EXPECTED_TOOLS
    assert renewals["total"] >= 1 and all(row["days_to_due"] <= 90 for row in renewals["items"])
    assert all(row["owner"] == DEMO_CSM for row in renewals["items"])
    assert "no account with id 999999" in error


@pytest.mark.parametrize("credentials", [None, "csd_not-a-real-token", "revoked", "expired", "not-a-jwt"])
async def test_requests_without_a_valid_token_get_401_with_protected_resource_metadata(
        mcp_url: str, tokens: dict[str, str], credentials: str | None) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if credentials is not None:
        headers["Authorization"] = f"Bearer {tokens.get(credentials, credentials)}"
    async with httpx.AsyncClient() as client:
        response = await client.post(mcp_url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        metadata_url = response.headers["www-authenticate"].split('resource_metadata="', 1)[1].split('"', 1)[0]
        metadata = (await client.get(metadata_url)).json()
    assert response.status_code == 401
    assert metadata["resource"] == mcp_url and metadata["scopes_supported"] == ["csdesk"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_resources_and_prompts_over_http_in_both_eras(mcp_url: str, tokens: dict[str, str], mode: str) -> None:
    async with authorised(mcp_url, tokens["csm"], mode) as client:
        account = (await call_ok(client, "list_accounts", owner="me", limit=1))["items"][0]
        brief = await client.read_resource(f"csdesk://accounts/{account['id']}")
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        renewal = await client.get_prompt("prepare_renewal", {"account_id": str(account["id"])})
    assert brief.contents[0].text.startswith(f"# {account['name']} (account {account['id']})")
    assert prompts == {"weekly_risk_review", "prepare_renewal"}
    assert f"get_account with account_id {account['id']}" in renewal.messages[0].content.text


async def test_a_reviewer_token_approves_a_draft_and_a_csm_token_cannot(mcp_url: str,
                                                                        tokens: dict[str, str]) -> None:
    async with authorised(mcp_url, tokens["reviewer"]) as reviewer:
        queue = await call_ok(reviewer, "list_drafts", status=["pending_review"], limit=2)
        first, second = queue["items"]
        approved = await call_ok(reviewer, "review_draft", draft_id=first["id"], decision="approve",
                                 expected_version=first["version"])
    async with authorised(mcp_url, tokens["csm"]) as csm:
        refused = await call_error(csm, "review_draft", draft_id=second["id"], decision="approve",
                                   expected_version=second["version"])
        unchanged = await call_ok(csm, "get_draft", draft_id=second["id"])
    assert (approved["status"], approved["reviewer"]) == ("approved", "riley.chen@example.com")
    assert "role 'csm' cannot approve drafts" in refused
    assert unchanged["status"] == "pending_review" and unchanged["version"] == second["version"]


async def test_a_csm_token_acts_as_that_csm_and_cannot_write_a_peers_account(mcp_url: str,
                                                                             tokens: dict[str, str]) -> None:
    async with authorised(mcp_url, tokens["csm"]) as client:
        mine = await call_ok(client, "list_accounts", owner="me", limit=1)
        peers = await call_ok(client, "list_accounts", owner="ben.okafor@example.com", limit=1)
        peer = peers["items"][0]
        refused = await call_error(client, "update_account", account_id=peer["id"],
                                   expected_version=peer["version"], seats=1)
    assert mine["items"][0]["owner"] == DEMO_CSM
    assert "ana.garcia@example.com does not own account" in refused


async def test_foreign_host_names_are_refused_unless_configured(demo_db: Path, tokens: dict[str, str]) -> None:
    env = csdesk_env(demo_db, CSDESK_ALLOWED_HOSTS='["csdesk.internal:8765"]')
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": f"Bearer {tokens['csm']}", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/list"}
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}
    with running_http_server(env) as base_url:
        async with httpx.AsyncClient() as client:
            foreign = await client.post(f"{base_url}/mcp", headers={**headers, "Host": "evil.example.com"},
                                        json=listing)
            internal = await client.post(f"{base_url}/mcp", headers={**headers, "Host": "csdesk.internal:8765"},
                                         json=listing)
            origin = await client.post(f"{base_url}/mcp", headers={**headers, "Origin": "https://evil.example.com"},
                                       json=listing)
    assert foreign.status_code == 421 and origin.status_code == 403
    assert internal.status_code == 200, internal.text
