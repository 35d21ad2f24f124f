"""What an operator asks of the product-event feed: how much arrives, what was refused and why, which
users and groups belong to no account yet, and how long a change waits for its assessment."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import AccountMark, IngestRejection, ProductEvent, ProductUser
from store.events.rollup import NEW, WAITING

WINDOW = timedelta(hours=24)
LISTED = 10


class HourCount(BaseModel):
    hour: str
    events: int


class ReasonCount(BaseModel):
    reason: str
    requests: int


class GroupCount(BaseModel):
    group_id: str
    users: int


class EventsStatus(BaseModel):
    """The last 24 hours of the feed, and what waits now."""

    received_per_hour: list[HourCount]
    received: int
    rejected_requests: int
    rejected_reasons: list[ReasonCount]
    users: int
    unmapped_users: int
    unmapped_groups: list[GroupCount]
    # Activity kept for users in no known account: counted once their group call names one.
    activity_awaiting_account: int
    # Stored but not yet counted: the roll-up runs beside the server every second.
    not_yet_rolled_up: int
    accounts_pending: int
    oldest_pending_seconds: float | None
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None
    lag_max_seconds: float | None
    assessed_after_change: int


async def events_status(session: AsyncSession, *, now: datetime) -> EventsStatus:
    since = now - WINDOW
    hour = _hour(session, ProductEvent.received_at)
    per_hour = [HourCount(hour=str(row[0])[:13] + ":00", events=row[1]) for row in await session.execute(
        select(hour, func.count()).where(ProductEvent.received_at >= since).group_by(hour).order_by(hour))]
    reasons = [ReasonCount(reason=row[0], requests=row[1]) for row in await session.execute(
        select(IngestRejection.reason, func.count()).where(IngestRejection.received_at >= since)
        .group_by(IngestRejection.reason).order_by(func.count().desc()).limit(LISTED))]
    rejected = await session.scalar(select(func.count()).select_from(IngestRejection)
                                    .where(IngestRejection.received_at >= since))
    users = await session.scalar(select(func.count()).select_from(ProductUser))
    unmapped = await session.scalar(select(func.count()).select_from(ProductUser)
                                    .where(ProductUser.account_id.is_(None)))
    groups = [GroupCount(group_id=row[0], users=row[1]) for row in await session.execute(
        select(ProductUser.group_id, func.count()).where(ProductUser.account_id.is_(None),
                                                         ProductUser.group_id.is_not(None))
        .group_by(ProductUser.group_id).order_by(func.count().desc()).limit(LISTED))]
    awaiting = await session.scalar(select(func.count()).select_from(ProductEvent)
                                    .where(ProductEvent.state == WAITING))
    queued = await session.scalar(select(func.count()).select_from(ProductEvent).where(ProductEvent.state == NEW))
    pending = (await session.execute(select(func.count(), func.min(AccountMark.pending_since))
                                     .where(AccountMark.pending_since.is_not(None)))).one()
    lags = sorted(lag for lag, in await session.execute(
        select(AccountMark.lag_seconds).where(AccountMark.assessed_at >= since, AccountMark.lag_seconds.is_not(None))))
    oldest = pending[1]
    return EventsStatus(
        received_per_hour=per_hour, received=sum(item.events for item in per_hour), rejected_requests=rejected or 0,
        rejected_reasons=reasons, users=users or 0, unmapped_users=unmapped or 0, unmapped_groups=groups,
        activity_awaiting_account=awaiting or 0, not_yet_rolled_up=queued or 0, accounts_pending=pending[0] or 0,
        oldest_pending_seconds=round((now - oldest).total_seconds(), 1) if oldest else None,
        lag_p50_seconds=_quantile(lags, 0.50), lag_p99_seconds=_quantile(lags, 0.99),
        lag_max_seconds=lags[-1] if lags else None, assessed_after_change=len(lags))


def _hour(session: AsyncSession, column: object) -> object:
    """The hour a time falls in, as the database spells it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(literal_column("'hour'"), column)
    return func.strftime("%Y-%m-%d %H", column)


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
