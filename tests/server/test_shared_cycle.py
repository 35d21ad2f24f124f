"""Several `csdesk run --worker` processes split one cycle between them: every active account is
assessed exactly once, and more than one worker did part of the work. On SQLite and PostgreSQL (where
the workers claim batches with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.database.models import Account, AgentRun, Assessment
from store.demo.portfolio import seed_demo_portfolio
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
        _out, errors = worker.communicate(timeout=600)  # reading as it runs: a full pipe would stall it
        assert worker.returncode == 0, errors

    active, per_account, runs = asyncio.run(_outcome(settings))
    assert len(per_account) == active and set(per_account) == {1}, "every account assessed exactly once"
    assert [status for status, _counts in runs] == ["completed"] * WORKERS
    shares = [counts["assessed"] for _status, counts in runs]
    assert sum(shares) == active, json.dumps(shares)
    assert sum(1 for share in shares if share > 0) >= 2, f"the cycle was not shared: {shares}"


def test_a_killed_workers_accounts_are_taken_over_within_the_cycle(
        portfolio: tuple[Settings, dict[str, str]]) -> None:
    settings, env = portfolio
    env = {**env, "CSDESK_RUN_LEASE_SECONDS": "1"}
    victim = subprocess.Popen([CSDESK, "run", "--worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while asyncio.run(_assessed(settings)) == 0:
        assert victim.poll() is None and time.monotonic() < deadline, "the worker wrote nothing"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    # The survivors work through the rest for longer than the victim's one-second lease, so they find its
    # claimed batch abandoned and take it over before the cycle ends.
    survivors = [subprocess.Popen([CSDESK, "run", "--worker"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in survivors:
        _out, errors = worker.communicate(timeout=600)  # reading as it runs: a full pipe would stall it
        assert worker.returncode == 0, errors

    active, per_account, runs = asyncio.run(_outcome(settings))
    statuses = [status for status, _counts in runs]
    assert len(per_account) == active and set(per_account) == {1}, "every account assessed exactly once"
    # The victim is recorded as interrupted. On a loaded machine a survivor can miss its one-second lease
    # too and be taken for dead; the fence keeps its writes from doubling, and one survivor completes.
    assert statuses[0] == "interrupted" and len(statuses) == 3 and "completed" in statuses[1:], statuses


async def _assessed(settings: Settings) -> int:
    async with open_app(settings, migrate=False) as app, app.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(Assessment)
                                    .where(Assessment.method.startswith("rules/"))) or 0


async def _outcome(settings: Settings) -> tuple[int, list[int], list[tuple[str, dict]]]:
    """Active accounts, rules assessments per assessed account, and each worker run's status and counts
    in the order the workers joined."""
    async with open_app(settings, migrate=False) as app, app.read_sessions() as session:
        active = await session.scalar(select(func.count()).select_from(Account).where(Account.status == "active"))
        per_account = list(await session.scalars(
            select(func.count()).select_from(Assessment).where(Assessment.method.startswith("rules/"))
            .group_by(Assessment.account_id)))
        runs = [(run.status, run.counts) for run in await session.scalars(
            select(AgentRun).where(AgentRun.kind == "assessment-worker").order_by(AgentRun.id))]
        return active or 0, per_account, runs
