"""Shared-cycle throughput: 1, 2 and 3 `csdesk run --worker --force` processes splitting one forced
cycle over the same PostgreSQL portfolio, each its own process; wall time, accounts per second and
the speed-up over one worker. PostgreSQL only (SQLite has one writer at a time, so extra workers there
add safety, not speed).

`.venv/bin/python -m bench.workers --accounts 10000 --database-url postgresql+asyncpg://…/bench`
(an empty database, or one that already holds that portfolio). `make bench` runs it at 10,000 accounts
when CSDESK_BENCH_POSTGRES_URL names such a database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time

from sqlalchemy import func, select

from bench.latency import CSDESK, server_env
from bench.portfolio import ensure_portfolio, settings_for
from server.context import open_app
from store.database.models import AgentRun

WORKER_COUNTS = (1, 2, 3)


async def _shares(database_url: str, since_id: int) -> list[int]:
    """Accounts assessed by each worker run opened after `since_id`."""
    async with open_app(settings_for(0, database_url), migrate=False) as app, app.read_sessions() as session:
        runs = await session.scalars(select(AgentRun).where(AgentRun.id > since_id,
                                                            AgentRun.kind == "assessment-worker"))
        return [int((run.counts or {}).get("assessed", 0)) for run in runs]


async def _last_run_id(database_url: str) -> int:
    async with open_app(settings_for(0, database_url), migrate=False) as app, app.read_sessions() as session:
        return await session.scalar(select(func.max(AgentRun.id))) or 0


def forced_cycle(database_url: str, workers: int) -> tuple[float, list[int]]:
    """Wall time of one forced cycle split over `workers` processes, and each one's share."""
    env = server_env(settings_for(0, database_url))
    before = asyncio.run(_last_run_id(database_url))
    started = time.perf_counter()
    processes = [subprocess.Popen([CSDESK, "run", "--worker", "--force"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    for process in processes:
        _out, errors = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {errors[-500:]}")
    seconds = time.perf_counter() - started
    return seconds, asyncio.run(_shares(database_url, before))


def report(accounts: int, database_url: str) -> list[str]:
    built = asyncio.run(ensure_portfolio(settings_for(accounts, database_url), accounts))
    lines = [f"  {built}"]
    baseline = None
    for workers in WORKER_COUNTS:
        seconds, shares = forced_cycle(database_url, workers)
        done = sum(shares)
        rate = done / seconds if seconds else 0.0
        baseline = baseline or rate
        lines.append(f"  {workers} worker(s): {seconds:6.1f} s wall, {done:,} accounts ({rate:,.0f}/s, "
                     f"{rate / baseline:.2f}x one worker); shares {json.dumps(shares)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database for the portfolio")
    args = parser.parse_args()
    print(f"Shared forced cycle on PostgreSQL, {args.accounts:,} accounts:", flush=True)
    for line in report(args.accounts, args.database_url):
        print(line, flush=True)


if __name__ == "__main__":
    main()
