"""The whole portfolio's figures, kept once computed for as long as they are still exact.

`portfolio_summary` reads every account, and the dashboard adds churn by segment and a twelve-month
trend: well over a second at 100,000 accounts. For the whole portfolio (a CSM's book is small and is
always computed live) the figures are stored with what they were computed from, and a later request
gets them back when nothing they depend on has changed since:
- it is the same day (the pipeline's quarters, the retention period and the day-based ARR lookups move
  with the date);
- no account, renewal or assessment was written (their audit events) and no revenue event was
  recorded. Both are checked by counting the rows among the newest ids, so that a write committed late
  under a lower id (concurrent writers on PostgreSQL) is caught as well as a new one;
- no assessment falls in the stretch the "30 days ago" and "7 days ago" moments have moved over.
Anything else is computed again, exactly as `portfolio_summary` does, and stored. A closed month's
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
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.auth.principals import Principal
from store.auth.users import user_id_filter
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
from store.database.upsert import insert_or_update

# How far below the newest id a row may still commit (PostgreSQL hands ids out before commit).
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


async def _seen(session: AsyncSession, *, revenue_until: date | None = None) -> Seen:
    audit_seen = await session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0
    revenue_seen = await session.scalar(select(func.coalesce(func.max(RevenueEvent.id), 0))) or 0
    return Seen(audit_seen, await _recent_audits(session, audit_seen), revenue_seen,
                await _recent_revenue(session, revenue_seen, revenue_until))


async def _recent_audits(session: AsyncSession, seen: int) -> int:
    return await session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.id > seen - LATE_ID_MARGIN, AuditEvent.entity.in_(SUMMARY_ENTITIES))) or 0


async def _recent_revenue(session: AsyncSession, seen: int, until: date | None) -> int:
    newest = RevenueEvent.id > seen - LATE_ID_MARGIN
    where = newest if until is None else and_(newest, RevenueEvent.occurred_on <= until)
    return await session.scalar(select(func.count()).select_from(RevenueEvent).where(where)) or 0


async def _unchanged(session: AsyncSession, row: Any, *, audits: bool, revenue_until: date | None) -> bool:
    """Whether no relevant row was written since the snapshot was computed."""
    if await _recent_revenue(session, row.revenue_seen, revenue_until) != row.revenue_recent:
        return False
    return not audits or await _recent_audits(session, row.audit_seen) == row.audit_recent


async def _no_assessment_between(session: AsyncSession, after: datetime, until: datetime) -> bool:
    return await session.scalar(select(Assessment.id).where(Assessment.created_at > after,
                                                            Assessment.created_at <= until).limit(1)) is None


async def _summary_still_exact(session: AsyncSession, row: Any, now: datetime) -> bool:
    computed_for = row.computed_for
    if computed_for.date() != now.date() or computed_for > now:
        return False
    for days in (MONTH_AGO_DAYS, WEEK_AGO_DAYS):
        if not await _no_assessment_between(session, computed_for - timedelta(days=days), now - timedelta(days=days)):
            return False
    return await _unchanged(session, row, audits=True, revenue_until=None)


Compute = Callable[[AsyncSession], Any]


async def _remembered(read_sessions: async_sessionmaker[AsyncSession], write_sessions: async_sessionmaker[AsyncSession],
                      *, kind: str, key: str, now: datetime, exact: Callable[[AsyncSession, Any], Any],
                      compute: Compute, revenue_until: date | None = None) -> dict[str, Any]:
    """The stored payload of (kind, key) if `exact` says it still is; else computed, stored and returned."""
    async with read_sessions() as session, session.begin():
        row = (await session.execute(select(SNAPSHOTS).where(SNAPSHOTS.c.kind == kind,
                                                             SNAPSHOTS.c.key == key))).first()
        if row is not None and await exact(session, row):
            return dict(row.payload)
        # What the figures are computed from is read first: a write after this point invalidates them.
        seen = await _seen(session, revenue_until=revenue_until)
        payload = await compute(session)
    async with write_sessions() as session, session.begin():
        await insert_or_update(session, SNAPSHOTS, [{"kind": kind, "key": key, "computed_for": now, "payload": payload,
                                                     **asdict(seen)}],
                               keys=["kind", "key"], update=["computed_for", "payload", "audit_seen", "audit_recent",
                                                             "revenue_seen", "revenue_recent"])
    return payload


async def summary(read_sessions: async_sessionmaker[AsyncSession], write_sessions: async_sessionmaker[AsyncSession],
                  *, principal: Principal, now: datetime, owner: str | None = None, currency: str | None = None,
                  period_start: date | None = None, period_end: date | None = None,
                  quarters: int = 4) -> PortfolioSummary:
    """portfolio_summary; the whole portfolio's over the default period from storage while exact, any
    other computed live.

    Raises:
        as portfolio_summary.
    """
    async with read_sessions() as session:
        owner_id = await user_id_filter(session, ref=owner, principal=principal)
        if owner_id is not None or period_start is not None or period_end is not None:
            return await summary_of(session, owner_id=owner_id, now=now, currency=currency, quarters=quarters,
                                    period_start=period_start, period_end=period_end)
    return await whole_portfolio_summary(read_sessions, write_sessions, now=now, currency=currency, quarters=quarters)


async def whole_portfolio_summary(read_sessions: async_sessionmaker[AsyncSession],
                                  write_sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                                  currency: str | None = None, quarters: int = 4) -> PortfolioSummary:
    """The whole portfolio's summary over the default period, from storage while exact."""

    async def compute(session: AsyncSession) -> dict[str, Any]:
        found = await summary_of(session, owner_id=None, now=now, currency=currency, quarters=quarters)
        return found.model_dump(mode="json")

    payload = await _remembered(read_sessions, write_sessions, kind="summary", key=f"{currency or '*'}|{quarters}",
                                now=now, exact=lambda session, row: _summary_still_exact(session, row, now),
                                compute=compute)
    return PortfolioSummary.model_validate(payload)


async def dashboard(read_sessions: async_sessionmaker[AsyncSession], write_sessions: async_sessionmaker[AsyncSession],
                    *, principal: Principal, now: datetime, owner: str | None = None,
                    currency: str | None = None) -> Dashboard:
    """The portfolio page's figures: the summary, churn by segment over its period, and the trend."""
    async with read_sessions() as session:
        owner_id = await user_id_filter(session, ref=owner, principal=principal)
        if owner_id is not None:
            found = await summary_of(session, owner_id=owner_id, now=now, currency=currency)
            period = found.retention
            by_segment = await retention_by_segment(session, owner_id=owner_id, currency=found.currency,
                                                    start=period.period_start, end=period.period_end)
            closed = [await retention(session, owner_id=owner_id, currency=found.currency, start=start, end=end)
                      for start, end in month_ends(now.date())]
            return Dashboard(summary=found, by_segment=by_segment, trend=[*closed, period])
    return await whole_portfolio_dashboard(read_sessions, write_sessions, now=now, currency=currency)


async def whole_portfolio_dashboard(read_sessions: async_sessionmaker[AsyncSession],
                                    write_sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                                    currency: str | None = None) -> Dashboard:
    """The whole portfolio's dashboard, from storage while exact."""
    found = await whole_portfolio_summary(read_sessions, write_sessions, now=now, currency=currency)
    period = found.retention

    async def segments(session: AsyncSession) -> dict[str, Any]:
        figures = await retention_by_segment(session, owner_id=None, currency=found.currency,
                                             start=period.period_start, end=period.period_end)
        return {name: one.model_dump(mode="json") for name, one in figures.items()}

    by_segment = await _remembered(read_sessions, write_sessions, kind="by_segment", key=f"{found.currency}", now=now,
                                   exact=lambda session, row: _summary_still_exact(session, row, now),
                                   compute=segments)
    trend = await closed_months(read_sessions, write_sessions, currency=found.currency, now=now)
    return Dashboard(summary=found, by_segment={name: RetentionFigures.model_validate(one)
                                                for name, one in by_segment.items()}, trend=[*trend, period])


async def closed_months(read_sessions: async_sessionmaker[AsyncSession],
                        write_sessions: async_sessionmaker[AsyncSession], *, currency: str,
                        now: datetime) -> list[RetentionFigures]:
    """The whole portfolio's twelve-month retention at each of the last eleven month ends, oldest first.
    Those periods have ended: they move only with a revenue event dated up to the last of them (one
    recorded late, or an import of history)."""
    periods = month_ends(now.date())
    last_end = periods[-1][1]

    async def compute(session: AsyncSession) -> dict[str, Any]:
        return {"months": [(await retention(session, owner_id=None, currency=currency, start=start, end=end))
                           .model_dump(mode="json") for start, end in periods]}

    payload = await _remembered(
        read_sessions, write_sessions, kind="closed_months", key=f"{currency}|{last_end.isoformat()}", now=now,
        revenue_until=last_end, compute=compute,
        exact=lambda session, row: _unchanged(session, row, audits=False, revenue_until=last_end))
    return [RetentionFigures.model_validate(one) for one in payload["months"]]


async def refresh(read_sessions: async_sessionmaker[AsyncSession], write_sessions: async_sessionmaker[AsyncSession],
                  *, now: datetime) -> None:
    """Bring the whole portfolio's stored figures up to date (after an agent cycle, beside the HTTP
    server), so that the next dashboard is read, not computed; a few milliseconds while they hold."""
    await whole_portfolio_dashboard(read_sessions, write_sessions, now=now)
