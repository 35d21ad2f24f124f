"""The whole portfolio's stored figures are served only while exact: after every kind of write that moves
them they equal a fresh portfolio_summary, and writes that do not move them leave the stored ones in use."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from store.crm.activity import add_health_note
from store.crm.portfolio import month_ends, portfolio_summary, retention
from store.crm.portfolio_schemas import PortfolioSummary
from store.crm.portfolio_snapshots import closed_months, dashboard, summary
from store.database.models import AuditEvent, PortfolioSnapshot, RevenueEvent
from tests.conftest import NOW, Db
from tests.store.test_portfolio import _assess, _change, _close, _fixture

LATER = NOW + timedelta(hours=2)


async def _stored(db: Db, moment=NOW) -> PortfolioSummary:  # noqa: ANN001
    return await summary(db.app.units, email=db.principals["morgan"].email, now=moment)


async def _live(db: Db, moment=NOW) -> PortfolioSummary:  # noqa: ANN001
    async with db.read() as session:
        return await portfolio_summary(session, principal=db.principals["morgan"], now=moment)


async def _computed_for(db: Db, kind: str = "summary") -> object:
    async with db.read() as session:
        return await session.scalar(select(PortfolioSnapshot.computed_for).where(PortfolioSnapshot.kind == kind))


async def test_stored_figures_equal_fresh_ones_after_every_write_that_moves_them(db: Db) -> None:
    ids = await _fixture(db)
    assert await _stored(db) == await _live(db)
    first = await _computed_for(db)
    # A health note moves none of the figures: the stored ones stay in use.
    async with db.write() as session:
        await add_health_note(session, principal=db.principals["ana"], now=NOW, account_id=ids["Echo"],
                              body="Their CFO is reviewing vendors", sentiment="negative")
    assert await _stored(db, LATER) == await _live(db, LATER)
    assert await _computed_for(db) == first
    # Each of these moves them: a new assessment, an ARR change, a renewal closed, a churn.
    writes = [lambda: _assess(db, ids["Foxtrot"], NOW.date(), "at_risk"),
              lambda: _change(db, ids["Echo"], NOW.date(), arr="45000"),
              lambda: _close(db, ids["Kilo"], NOW.date(), "closed_won", "9000"),
              lambda: _change(db, ids["Alpha"], NOW.date(), status="churned")]
    for write in writes:
        before = await _stored(db, LATER)
        await write()
        after = await _stored(db, LATER)
        assert after == await _live(db, LATER) and after != before


async def test_a_new_day_and_the_moving_month_ago_moment_are_computed_again(db: Db) -> None:
    ids = await _fixture(db)
    await _stored(db)
    tomorrow = NOW + timedelta(days=1)
    assert await _stored(db, tomorrow) == await _live(db, tomorrow) and await _computed_for(db) == tomorrow
    # An assessment made 30 days and an hour before a later moment falls in the stretch "a month ago"
    # moved over since the figures were computed: they are computed again.
    await _stored(db, tomorrow)
    later = tomorrow + timedelta(hours=3)
    await _assess(db, ids["Echo"], (later - timedelta(days=30, hours=1)).date(), "at_risk")
    assert await _stored(db, later) == await _live(db, later) and await _computed_for(db) == later


async def test_a_write_committed_late_under_a_lower_id_is_noticed(db: Db) -> None:
    if db.app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns, so rows commit in id order: only PostgreSQL hands out ids "
                    "before commit")
    ids = await _fixture(db)
    await _stored(db)
    first = await _computed_for(db)
    async with db.write() as session:
        # PostgreSQL hands out ids before commit: a row below the newest id can appear after the figures
        # were computed. An account's churn written that way must still invalidate them.
        newest = await session.scalar(select(func.max(AuditEvent.id)))
        free = newest - 1
        while await session.get(AuditEvent, free) is not None:
            free -= 1
        session.add(AuditEvent(id=free, at=NOW, principal="late@example.com", action="account.update",
                               entity="account", entity_id=ids["Echo"], before={}, after={}))
    await _stored(db, LATER)
    assert await _computed_for(db) != first


async def test_closed_months_are_kept_until_a_revenue_event_dated_in_them_arrives(db: Db) -> None:
    ids = await _fixture(db)
    periods = month_ends(NOW.date())
    units = db.app.units

    async def fresh() -> list[object]:
        async with db.read() as session:
            return [await retention(session, owner_id=None, currency="USD", start=start, end=end)
                    for start, end in periods]

    kept = await closed_months(units, currency="USD", now=NOW)
    assert kept == await fresh()
    # Today's ARR change is after the months ended: their figures are kept.
    await _change(db, ids["Echo"], NOW.date(), arr="47000")
    assert await closed_months(units, currency="USD", now=LATER) == kept
    assert await _computed_for(db, "closed_months") == NOW
    # A revenue event dated inside them (history recorded late) changes them.
    async with db.write() as session:
        session.add(RevenueEvent(account_id=ids["Echo"], occurred_on=periods[-1][1] - timedelta(days=3),
                                 kind="expansion", currency="USD", arr_before=40000, arr_after=52000, source="import",
                                 created_at=NOW))
    moved = await closed_months(units, currency="USD", now=LATER)
    assert moved == await fresh() and moved != kept


async def test_the_dashboard_trend_ends_with_the_summarys_own_period(db: Db) -> None:
    await _fixture(db)
    found = await dashboard(db.app.units, principal=db.principals["morgan"], now=NOW)
    assert len(found.trend) == 12 and found.trend[-1] == found.summary.retention
    assert [f.period_end for f in found.trend[:-1]] == [end for _, end in month_ends(NOW.date())]
    assert found.trend[-2].period_end == date(2026, 10, 31)
    # A CSM's book is computed live and not stored.
    ana = await dashboard(db.app.units, principal=db.principals["ana"], now=NOW,
                          owner="me")
    assert ana.summary.owner == "ana@example.com" and ana.summary.retention != found.summary.retention
    async with db.read() as session:
        keys = set(await session.scalars(select(PortfolioSnapshot.key)))
    assert "ana" not in " ".join(keys)


