"""The real server process over stdio and over Streamable HTTP, driven by the SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.server.processes import CSDESK, DEMO_CSM, csdesk_env, run_csdesk
from tests.server.processes import http_server as running_http_server
from tests.tools.helpers import call_error, call_ok


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


def test_http_refuses_a_non_loopback_address_until_authentication_exists(demo_db: Path) -> None:
    result = run_csdesk("serve", "--http", "--host", "0.0.0.0", env=csdesk_env(demo_db, CSDESK_USER=DEMO_CSM))
    assert result.returncode == 2 and "binds only to a loopback address" in result.stderr


@pytest.fixture(scope="module")
def mcp_url(demo_db: Path) -> Iterator[str]:
    with running_http_server(csdesk_env(demo_db, CSDESK_USER=DEMO_CSM)) as base_url:
        yield f"{base_url}/mcp"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_streamable_http_serves_both_protocol_eras(mcp_url: str, mode: str) -> None:
    async with Client(mcp_url, mode=mode) as client:
        tools = (await client.list_tools()).tools
        renewals = await call_ok(client, "list_renewals", owner="me", within_days=90)
        error = await call_error(client, "get_account", account_id=999_999)
    assert len(tools) == 18
    assert renewals["total"] >= 1 and all(row["days_to_due"] <= 90 for row in renewals["items"])
    assert "no account with id 999999" in error
