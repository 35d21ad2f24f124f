"""Several `csdesk run --worker` processes split one cycle between them: every active account is
assessed exactly once, and more than one worker did part of the work. On SQLite and PostgreSQL (where
the workers claim batches with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.demo_portfolio import seed_demo_portfolio
from store.models import Account, AgentRun, Assessment
from tests.conftest import NOW, TODAY, fresh_postgres_or_skip
from tests.server.processes import CSDESK, plain_env

ACCOUNTS = 2_400
WORKERS = 3


@pytest.fixture(params=["sqlite", "postgres"])
def portfolio(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    if request.param == "postgres":
        url = fresh_postgres_or_skip(request, "the shared cycle")
        settings = Settings(database_url=url)
        env = plain_env(CSDESK_DATABASE_URL=url)
    else:
        settings = Settings(db_path=tmp_path / "csdesk.db")
        env = plain_env(CSDESK_DB_PATH=str(settings.db_path))

    async def seed() -> None:
        async with open_app(settings, clock=FixedClock(NOW)) as app, app.write_sessions() as session, \
                session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=ACCOUNTS)

    asyncio.run(seed())
    return settings, env


def test_workers_split_one_cycle_and_assess_every_account_once(portfolio: tuple[Settings, dict[str, str]]) -> None:
    settings, env = portfolio
    workers = [subprocess.Popen([CSDESK, "run", "--worker"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(WORKERS)]
    for worker in workers:
        assert worker.wait(timeout=600) == 0, worker.stderr.read() if worker.stderr else ""

    async def read() -> tuple[int, list[int], list[tuple[str, dict]]]:
        async with open_app(settings, migrate=False) as app, app.read_sessions() as session:
            active = await session.scalar(select(func.count()).select_from(Account).where(Account.status == "active"))
            per_account = list(await session.scalars(
                select(func.count()).select_from(Assessment).where(Assessment.method == "rules")
                .group_by(Assessment.account_id)))
            runs = [(run.status, run.counts) for run in await session.scalars(
                select(AgentRun).where(AgentRun.kind == "assessment-worker"))]
            return active or 0, per_account, runs

    active, per_account, runs = asyncio.run(read())
    assert len(per_account) == active and set(per_account) == {1}, "every account assessed exactly once"
    assert [status for status, _counts in runs] == ["completed"] * WORKERS
    shares = [counts["assessed"] for _status, counts in runs]
    assert sum(shares) == active, json.dumps(shares)
    assert sum(1 for share in shares if share > 0) >= 2, f"the cycle was not shared: {shares}"
