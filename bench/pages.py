"""The web desk's pages: each one's response time over loopback HTTP from the real `csdesk serve --http`,
signed in as a CSM or a manager, against its budget (a list page 300 ms, the portfolio dashboard 250 ms).

Run with `make bench`, or `.venv/bin/python -m bench.pages --accounts 10000 100000`. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import time

import httpx
from sqlalchemy import delete

from bench.latency import CSDESK, http_server, server_env
from bench.portfolio import MANAGER, ensure_portfolio, settings_for
from bench.timing import Timing, measure, summarise
from server.context import open_app
from server.settings import Settings
from store.database.models import PortfolioSnapshot

CALLS = 30
RECOMPUTED_CALLS = 3
LIST_BUDGET_MS = 300
DASHBOARD_BUDGET_MS = 250
# (who, path, budget): the questions a CSM and a manager open the desk for.
PAGES = (
    ("csm", "/", LIST_BUDGET_MS),
    ("csm", "/?status=at_risk&status=needs_attention&renews=90&sort=health_score", LIST_BUDGET_MS),
    ("manager", "/", LIST_BUDGET_MS),
    ("manager", "/?sort=renewal_date&page=40", LIST_BUDGET_MS),
    ("csm", "/renewals", LIST_BUDGET_MS),
    ("manager", "/renewals?days=180", LIST_BUDGET_MS),
    ("csm", "/accounts/{account}", LIST_BUDGET_MS),
    ("manager", "/review", LIST_BUDGET_MS),
    ("manager", "/review?kind=check_in&older_than=7", LIST_BUDGET_MS),
    ("manager", "/portfolio", DASHBOARD_BUDGET_MS),
)


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    form = await client.get("/review/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, "no sign-in form"
    answer = await client.post("/review/login", data={"token": token, "csrf": csrf.group(1)})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in failed: {answer.status_code}")


async def measure_pages(settings: Settings, accounts: int, calls: int) -> list[tuple[str, str, int, Timing]]:
    print(f"  {await ensure_portfolio(settings, accounts)}", flush=True)
    env = server_env(settings)
    manager_token = subprocess.run([CSDESK, "tokens", "create", "--user", MANAGER, "--name", "bench-pages",
                                    "--expires-in-days", "1"], env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
    async with http_server(settings) as (mcp_url, csm_token, _pid):
        base = mcp_url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=60) as csm, \
                httpx.AsyncClient(base_url=base, timeout=60) as manager:
            await sign_in(csm, csm_token)
            await sign_in(manager, manager_token)
            first = re.search(r'href="/accounts/(\d+)"', (await csm.get("/")).text)
            account = first.group(1) if first else "1"
            results = []
            for who, path, budget in PAGES:
                client = csm if who == "csm" else manager
                url = path.format(account=account)

                async def call(client: httpx.AsyncClient = client, url: str = url) -> None:
                    answer = await client.get(url)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url}: {answer.status_code}")

                results.append((who, url, budget, await measure(call, calls)))
            results.append(("manager", "/portfolio (figures computed again, as after a write)", DASHBOARD_BUDGET_MS,
                            await _recomputed_dashboard(settings, manager)))
    return results


async def _recomputed_dashboard(settings: Settings, manager: httpx.AsyncClient) -> Timing:
    """The dashboard when its stored figures no longer hold (the first page after an account, renewal,
    assessment or revenue write): each call finds none stored and computes them."""
    samples = []
    async with open_app(settings, migrate=False) as app:
        for _ in range(RECOMPUTED_CALLS):
            async with app.write_sessions() as session, session.begin():
                await session.execute(delete(PortfolioSnapshot))
            started = time.perf_counter()
            answer = await manager.get("/portfolio")
            samples.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"/portfolio: {answer.status_code}")
    return summarise(samples)


def report(accounts: int, results: list[tuple[str, str, int, Timing]]) -> None:
    print(f"  web desk pages at {accounts:,} accounts, ms p50 / p99 over loopback HTTP:")
    for who, url, budget, timing in results:
        if url.startswith("/portfolio ("):
            print(f"    {who:8} {url:70} {timing}  (once after such a write; then stored)")
            continue
        verdict = "met" if timing.p50_ms <= budget else "MISSED"
        print(f"    {who:8} {url:70} {timing}  (budget {budget} ms: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    for accounts in args.accounts:
        results = asyncio.run(measure_pages(settings_for(accounts, args.database_url), accounts, args.calls))
        report(accounts, results)


if __name__ == "__main__":
    main()
