"""The whole portfolio's figures, kept once computed for as long as they are still exact.

`portfolio_summary` reads every account, and the dashboard adds churn by segment and a twelve-month
trend: well over a second at 100,000 accounts. For the whole portfolio (a CSM's book is small and is
always computed live) the figures are stored with what they were computed from, and a later request
gets them back when nothing they depend on has changed since:
- it is the same day (the pipeline's quarters, the retention period and the day-based ARR lookups move
  with the date);
- no account, renewal or assessment was written (their audit events) and no revenue event was
  recorded. Both are checked by counting the rows among the newest ids (on PostgreSQL, the newest
  10,000, so that a write committed late under a lower id by a concurrent writer is caught as well as a
  new one; on SQLite, whose writers take turns, the ids above the newest seen);
- no assessment falls in the stretch the "30 days ago" and "7 days ago" moments have moved over.
Checking and reading the stored figures is one read unit (store.database.one_hop). Anything else is
computed again, exactly as `portfolio_summary` does, and stored. A closed month's
twelve-month retention depends only on revenue events dated up to its end: the last eleven months are kept
on that alone.
The agent cycle (after each run), an idle watch and the HTTP server (every minute) refresh the whole
portfolio's figures (`refresh`), so the dashboard a manager opens is read from storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Integer, String, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.principals import Principal
from store.auth.users import principal_of, user_id_filter, user_id_of
from store.crm.portfolio import (
    MONTH_AGO_DAYS,
    WEEK_AGO_DAYS,
    month_ends,
    retention,
    retention_by_segment,
    summary_of,
)
from store.crm.portfolio_schemas import PortfolioSummary, RetentionFigures
from store.database.models import Assessment, AuditEvent, PortfolioSnapshot, RevenueEvent
from store.database.one_hop import OneHopUnits, on_session
from store.database.upsert import insert_or_update

# How far below the newest id a row may still commit on PostgreSQL, which hands ids out before commit. On
# SQLite one writer at a time holds the database, so rows commit in id order and the newest id says it all.
LATE_ID_MARGIN = 10_000
# The writes the summary reads the results of; notes, tasks, drafts and the rest do not move it.
SUMMARY_ENTITIES = ("account", "renewal", "assessment")
SNAPSHOTS = PortfolioSnapshot.__table__


class Dashboard(BaseModel):
    """What the portfolio page shows: the summary, churn by segment, and the twelve-month trend."""

    summary: PortfolioSummary
    by_segment: dict[str, RetentionFigures]
    trend: list[RetentionFigures]


@dataclass(frozen=True)
class Seen:
    """The newest audit and revenue ids, and how many relevant rows are among the newest ids."""

    audit_seen: int
    audit_recent: int
    revenue_seen: int
    revenue_recent: int


def _late_id_margin(db: Connection) -> int:
    return LATE_ID_MARGIN if db.dialect.name == "postgresql" else 0


def _seen(db: Connection, *, revenue_until: date | None = None) -> Seen:
    audit_seen = db.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()
    revenue_seen = db.execute(select(func.coalesce(func.max(RevenueEvent.id), 0))).scalar_one()
    return Seen(audit_seen, _recent_audits(db, audit_seen), revenue_seen,
                _recent_revenue(db, revenue_seen, revenue_until))


# The checks of a stored snapshot, built once (building and fingerprinting a statement cost more than
# running these). The entity is tested in the count, not in the WHERE clause: there SQLite's planner took
# the index on (entity, entity_id) and counted every account, renewal and assessment event (9 ms at
# 100,000 accounts) rather than the few above the newest id seen (0.02 ms).
RECENT_AUDITS = select(func.count(case((AuditEvent.entity.in_(SUMMARY_ENTITIES), 1)))) \
    .where(AuditEvent.id > bindparam("above", type_=Integer))
RECENT_REVENUE = select(func.count()).select_from(RevenueEvent) \
    .where(RevenueEvent.id > bindparam("above", type_=Integer))
RECENT_REVENUE_UNTIL = RECENT_REVENUE.where(
    RevenueEvent.occurred_on <= bindparam("until", type_=RevenueEvent.occurred_on.type))
ASSESSED_BETWEEN = select(Assessment.id).where(
    Assessment.created_at > bindparam("after", type_=Assessment.created_at.type),
    Assessment.created_at <= bindparam("until", type_=Assessment.created_at.type)).limit(1)
STORED = select(SNAPSHOTS).where(SNAPSHOTS.c.kind == bindparam("kind", type_=String),
                                 SNAPSHOTS.c.key == bindparam("key", type_=String))


def _recent_audits(db: Connection, seen: int) -> int:
    return db.execute(RECENT_AUDITS, {"above": seen - _late_id_margin(db)}).scalar_one()


def _recent_revenue(db: Connection, seen: int, until: date | None) -> int:
    above = seen - _late_id_margin(db)
    if until is None:
        return db.execute(RECENT_REVENUE, {"above": above}).scalar_one()
    return db.execute(RECENT_REVENUE_UNTIL, {"above": above, "until": until}).scalar_one()


def _unchanged(db: Connection, row: Any, *, audits: bool, revenue_until: date | None) -> bool:
    """Whether no relevant row was written since the snapshot was computed."""
    if _recent_revenue(db, row.revenue_seen, revenue_until) != row.revenue_recent:
        return False
    return not audits or _recent_audits(db, row.audit_seen) == row.audit_recent


def _no_assessment_between(db: Connection, after: datetime, until: datetime) -> bool:
    return db.execute(ASSESSED_BETWEEN, {"after": after, "until": until}).first() is None


def _summary_still_exact(db: Connection, row: Any, now: datetime) -> bool:
    computed_for = row.computed_for
    if computed_for.date() != now.date() or computed_for > now:
        return False
    for days in (MONTH_AGO_DAYS, WEEK_AGO_DAYS):
        if not _no_assessment_between(db, computed_for - timedelta(days=days), now - timedelta(days=days)):
            return False
    return _unchanged(db, row, audits=True, revenue_until=None)


Exact = Callable[[Connection, Any], bool]
Compute = Callable[[AsyncSession], Any]


def _stored(db: Connection, *, kind: str, key: str, exact: Exact) -> dict[str, Any] | None:
    """The stored payload of (kind, key) if there is one and `exact` says it still is (a read unit)."""
    row = db.execute(STORED, {"kind": kind, "key": key}).first()
    return dict(row.payload) if row is not None and exact(db, row) else None


async def _remembered(units: OneHopUnits, *, kind: str, key: str, now: datetime, exact: Exact, compute: Compute,
                      revenue_until: date | None = None) -> dict[str, Any]:
    """The stored payload of (kind, key) if `exact` says it still is; else computed, stored and returned."""
    stored = await units.run(_stored, kind=kind, key=key, exact=exact)
    return stored if stored is not None else await _computed(units, kind=kind, key=key, now=now, compute=compute,
                                                               revenue_until=revenue_until)


async def _computed(units: OneHopUnits, *, kind: str, key: str, now: datetime, compute: Compute,
                    revenue_until: date | None) -> dict[str, Any]:
    async with units.read_sessions() as session, session.begin():
        # What the figures are computed from is read first: a write after this point invalidates them.
        seen = await on_session(session, _seen, revenue_until=revenue_until)
        payload = await compute(session)
    async with units.write_sessions() as session, session.begin():
        await insert_or_update(session, SNAPSHOTS, [{"kind": kind, "key": key, "computed_for": now, "payload": payload,
                                                     **asdict(seen)}],
                               keys=["kind", "key"], update=["computed_for", "payload", "audit_seen", "audit_recent",
                                                             "revenue_seen", "revenue_recent"])
    return payload


def _summary_key(currency: str | None, quarters: int) -> str:
    return f"{currency or '*'}|{quarters}"


def _stored_summary(db: Connection, *, email: str | None, now: datetime, owner: str | None, currency: str | None,
                    whole_period: bool, quarters: int) -> tuple[int | None, PortfolioSummary | None]:
    """The owner the question filters on (None: everyone), and the stored answer if the question is the
    whole portfolio's over the default period and its figures are stored and still exact (a read unit that
    checks who asks)."""
    owner_id = user_id_of(db, ref=owner, principal=principal_of(db, email=email))
    if owner_id is not None or not whole_period:
        return owner_id, None
    payload = _stored(db, kind="summary", key=_summary_key(currency, quarters),
                      exact=lambda db, row: _summary_still_exact(db, row, now))
    return None, PortfolioSummary.model_validate(payload) if payload is not None else None


def _whole_summary(now: datetime, currency: str | None, quarters: int) -> Compute:
    async def compute(session: AsyncSession) -> dict[str, Any]:
        found = await summary_of(session, owner_id=None, now=now, currency=currency, quarters=quarters)
        return found.model_dump(mode="json")

    return compute


async def summary(units: OneHopUnits, *, email: str | None, now: datetime, owner: str | None = None,
                  currency: str | None = None, period_start: date | None = None, period_end: date | None = None,
                  quarters: int = 4) -> PortfolioSummary:
    """portfolio_summary as the user with `email` asks it; the whole portfolio's over the default period
    from storage while exact (who asks and the stored figures read in one unit), any other computed live.

    Raises:
        as portfolio_summary.
    """
    whole_period = period_start is None and period_end is None
    owner_id, stored = await units.run(_stored_summary, email=email, now=now, owner=owner, currency=currency,
                                       whole_period=whole_period, quarters=quarters)
    if stored is not None:
        return stored
    if owner_id is not None or not whole_period:
        async with units.read_sessions() as session:
            return await summary_of(session, owner_id=owner_id, now=now, currency=currency, quarters=quarters,
                                    period_start=period_start, period_end=period_end)
    # Checked just now in the unit: computed without checking again.
    return PortfolioSummary.model_validate(await _computed(
        units, kind="summary", key=_summary_key(currency, quarters), now=now,
        compute=_whole_summary(now, currency, quarters), revenue_until=None))


async def whole_portfolio_summary(units: OneHopUnits, *, now: datetime, currency: str | None = None,
                                  quarters: int = 4) -> PortfolioSummary:
    """The whole portfolio's summary over the default period, from storage while exact."""
    payload = await _remembered(units, kind="summary", key=_summary_key(currency, quarters), now=now,
                                exact=lambda db, row: _summary_still_exact(db, row, now),
                                compute=_whole_summary(now, currency, quarters))
    return PortfolioSummary.model_validate(payload)


async def dashboard(units: OneHopUnits, *, principal: Principal, now: datetime, owner: str | None = None,
                    currency: str | None = None) -> Dashboard:
    """The portfolio page's figures: the summary, churn by segment over its period, and the trend."""
    async with units.read_sessions() as session:
        owner_id = await user_id_filter(session, ref=owner, principal=principal)
        if owner_id is not None:
            found = await summary_of(session, owner_id=owner_id, now=now, currency=currency)
            period = found.retention
            by_segment = await retention_by_segment(session, owner_id=owner_id, currency=found.currency,
                                                    start=period.period_start, end=period.period_end)
            closed = [await retention(session, owner_id=owner_id, currency=found.currency, start=start, end=end)
                      for start, end in month_ends(now.date())]
            return Dashboard(summary=found, by_segment=by_segment, trend=[*closed, period])
    return await whole_portfolio_dashboard(units, now=now, currency=currency)


async def whole_portfolio_dashboard(units: OneHopUnits, *, now: datetime, currency: str | None = None) -> Dashboard:
    """The whole portfolio's dashboard, from storage while exact."""
    found = await whole_portfolio_summary(units, now=now, currency=currency)
    period = found.retention

    async def segments(session: AsyncSession) -> dict[str, Any]:
        figures = await retention_by_segment(session, owner_id=None, currency=found.currency,
                                             start=period.period_start, end=period.period_end)
        return {name: one.model_dump(mode="json") for name, one in figures.items()}

    by_segment = await _remembered(units, kind="by_segment", key=f"{found.currency}", now=now,
                                   exact=lambda db, row: _summary_still_exact(db, row, now), compute=segments)
    trend = await closed_months(units, currency=found.currency, now=now)
    return Dashboard(summary=found, by_segment={name: RetentionFigures.model_validate(one)
                                                for name, one in by_segment.items()}, trend=[*trend, period])


async def closed_months(units: OneHopUnits, *, currency: str, now: datetime) -> list[RetentionFigures]:
    """The whole portfolio's twelve-month retention at each of the last eleven month ends, oldest first.
    Those periods have ended: they move only with a revenue event dated up to the last of them (one
    recorded late, or an import of history)."""
    periods = month_ends(now.date())
    last_end = periods[-1][1]

    async def compute(session: AsyncSession) -> dict[str, Any]:
        return {"months": [(await retention(session, owner_id=None, currency=currency, start=start, end=end))
                           .model_dump(mode="json") for start, end in periods]}

    payload = await _remembered(
        units, kind="closed_months", key=f"{currency}|{last_end.isoformat()}", now=now,
        revenue_until=last_end, compute=compute,
        exact=lambda db, row: _unchanged(db, row, audits=False, revenue_until=last_end))
    return [RetentionFigures.model_validate(one) for one in payload["months"]]


async def refresh(units: OneHopUnits, *, now: datetime) -> None:
    """Bring the whole portfolio's stored figures up to date (after an agent cycle, beside the HTTP
    server), so that the next dashboard is read, not computed; a few milliseconds while they hold."""
    await whole_portfolio_dashboard(units, now=now)
