"""The watch: marked accounts assessed once each, shared between watchers, with changes that arrive while
an account is being assessed kept for the next pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from agents.cycle import run_cycle
from agents.deps import AgentDeps
from agents.watch import assess_marked
from store.database.models import AccountMark, Assessment
from store.demo.portfolio import seed_demo_portfolio
from store.runs.account_marks import mark_accounts
from store.runs.agent_runs import open_run
from tests.agents.conftest import deps_for
from tests.conftest import NOW, TODAY, Db

# The demo seeds each account's earlier health as history rows; these count the agent's own.
AGENT_MADE = Assessment.method != "demo-history"


async def _assessments_per_account(db: Db) -> dict[int, int]:
    async with db.read() as session:
        return dict((await session.execute(select(Assessment.account_id, func.count()).where(AGENT_MADE)
                                           .group_by(Assessment.account_id))).all())


async def _open_watch(db: Db) -> int:
    async with db.write() as session:
        return await open_run(session, kind="watch", now=NOW, wall_now=NOW)


async def _demo_with_every_account_marked(db: Db, *, accounts: int) -> tuple[AgentDeps, list[int]]:
    async with db.write() as session:
        await seed_demo_portfolio(session, today=TODAY, accounts=accounts)
    deps = deps_for(db)
    async with db.read() as session:
        ids = list((await session.scalars(select(Assessment.account_id).distinct())).all())
    async with db.write() as session:
        await mark_accounts(session, ids, now=deps.wall_clock.now(), reason="events")
    return deps, ids


async def test_two_watchers_share_the_marked_accounts_and_assess_each_once(db: Db) -> None:
    deps, ids = await _demo_with_every_account_marked(db, accounts=60)
    first, second = await _open_watch(db), await _open_watch(db)
    passes = await asyncio.gather(assess_marked(deps, claimer=first, limit=25),
                                  assess_marked(deps, claimer=second, limit=25),
                                  assess_marked(deps, claimer=first, limit=25))
    assert sum(done.claimed for done in passes) == len(ids) == 60
    assert set((await _assessments_per_account(db)).values()) == {1}, "no account assessed twice"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AccountMark)
                                    .where(AccountMark.pending_since.is_not(None))) == 0
    assert (await assess_marked(deps, claimer=first)).claimed == 0


async def test_an_unchanged_marked_account_is_claimed_and_skipped_without_a_new_assessment(db: Db) -> None:
    async with db.write() as session:
        await seed_demo_portfolio(session, today=TODAY, accounts=5)
    deps = deps_for(db)
    await run_cycle(deps)
    before = await _assessments_per_account(db)
    async with db.write() as session:
        await mark_accounts(session, before, now=deps.wall_clock.now() - timedelta(seconds=2), reason="events")
    done = await assess_marked(deps, claimer=await _open_watch(db))
    assert (done.claimed, done.assessed) == (5, 0), "the marks were cleared, the digests unchanged"
    assert await _assessments_per_account(db) == before


async def test_an_idle_watch_brings_the_dashboards_stored_figures_up_to_date(db: Db, monkeypatch) -> None:  # noqa: ANN001
    from agents import watch as watch_module
    from store.database.models import PortfolioSnapshot

    monkeypatch.setattr(watch_module, "FIGURES_EVERY_SECONDS", 0)
    deps, ids = await _demo_with_every_account_marked(db, accounts=5)
    stop, passes = asyncio.Event(), []

    async def between() -> None:
        passes.append(1)
        if len(passes) == 2:  # the second pass found nothing marked: the figures were refreshed in it
            stop.set()

    await watch_module.watch(deps, stop, poll_seconds=0.01, between=between)
    async with db.read() as session:
        kinds = set(await session.scalars(select(PortfolioSnapshot.kind)))
    assert kinds == {"summary", "by_segment", "closed_months"}
