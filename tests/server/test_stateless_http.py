"""Several stateless server processes behind one address, sharing one database: a client's requests
may land on any of them, and a review-page sign-in made on one holds on the others."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import fresh_postgres_or_skip
from tests.server.processes import DEMO_CSM, plain_env, run_csdesk
from tests.server.processes import http_server as running_http_server
from tests.tools.helpers import call_ok

PROCESSES = 2


class AlternatingTransport(httpx2.AsyncBaseTransport):
    """What a round-robin load balancer does to one client: each request goes to the next process."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.served_by: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.served_by.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
def shared_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment every process gets: one database, one session secret, stateless HTTP."""
    extra = {"CSDESK_STATELESS_HTTP": "true", "CSDESK_SESSION_SECRET": "one-secret-for-every-process"}
    if request.param == "postgres":
        extra["CSDESK_DATABASE_URL"] = fresh_postgres_or_skip(request, "several server processes")
    else:
        extra["CSDESK_DB_PATH"] = str(tmp_path / "csdesk.db")
    env = plain_env(**extra)
    seeded = run_csdesk("demo", env=env)
    assert seeded.returncode == 0, seeded.stderr
    return env


@pytest.fixture
def servers(shared_env: dict[str, str]) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(running_http_server(shared_env)) for _ in range(PROCESSES)]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_one_client_session_spread_over_several_processes(shared_env: dict[str, str], servers: list[str],
                                                                mode: str) -> None:
    token = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "lb", env=shared_env).stdout.strip()
    ports = [int(url.rsplit(":", 1)[1]) for url in servers]
    transport = AlternatingTransport(ports)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, transport=transport, timeout=30)
    async with Client(streamable_http_client(f"{servers[0]}/mcp", http_client=http), mode=mode) as client:
        account = (await call_ok(client, "list_accounts", owner="me", limit=1))["items"][0]
        note = await call_ok(client, "add_health_note", account_id=account["id"], body=f"Checked in ({mode}).")
        seen = await call_ok(client, "get_account", account_id=account["id"])
        again = await call_ok(client, "get_account", account_id=account["id"])
    assert set(transport.served_by) == set(ports), "every process should have answered part of the session"
    for view in (seen, again):
        assert note["id"] in [row["id"] for row in view["recent_notes"]]


async def test_a_review_page_sign_in_holds_on_every_process(shared_env: dict[str, str], servers: list[str]) -> None:
    token = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "web", env=shared_env).stdout.strip()
    async with httpx.AsyncClient(base_url=servers[0]) as first:
        form = await first.get("/review/login")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed_in = await first.post("/review/login", data={"token": token, "csrf": csrf})
        cookies = first.cookies
    async with httpx.AsyncClient(base_url=servers[1], cookies=cookies) as second:
        page = await second.get("/accounts/1")
    assert signed_in.status_code == 303
    # Account 1 of the demo portfolio, shown rather than a redirect to the sign-in form.
    assert page.status_code == 200 and "<title>Northwind Logistics" in page.text
