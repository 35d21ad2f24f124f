"""Raw product events over time: pruned after the keep window, and replayed to rebuild the usage they
rolled up to (after a user moved account, or an account got the external id its group calls name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import (
    EventUsage,
    EventUsageFeature,
    EventUsageUser,
    IngestRejection,
    ProductEvent,
    ProductUser,
)
from store.errors import InvalidInput
from store.events.messages import ACTIVITY
from store.events.rollup import (
    COUNTED,
    ROLLUP_LOCK_KEY,
    WAITING,
    Activity,
    accounts_for_groups,
    count_activity,
    month_of,
    set_state,
    write_snapshots,
)
from store.runs.account_marks import mark_accounts

# Events replayed per step of a rebuild, so a rebuild of months of events holds little in memory.
REPLAY_CHUNK = 20_000


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete the events (and refusal records) received before `before`; the usage they rolled up to
    stays. Returns how many events went."""
    gone = (await session.execute(delete(ProductEvent).where(ProductEvent.received_at < before)
                                  .execution_options(synchronize_session=False))).rowcount or 0
    await session.execute(delete(IngestRejection).where(IngestRejection.received_at < before)
                          .execution_options(synchronize_session=False))
    return gone


@dataclass
class Rebuilt:
    since: date
    users_remapped: int = 0
    events: int = 0
    months: int = 0
    accounts: set[int] = field(default_factory=set)


async def rebuild(session: AsyncSession, *, since: date, now: datetime, kept_from: datetime) -> Rebuilt:
    """Recount usage from the kept events for every month from `since`'s month on, with each user's
    account read again from their latest group call; in the caller's transaction.

    Raises InvalidInput when `since` is in the future, or its month begins before `kept_from` (events
    are kept from then on; a recount of a month whose first days were pruned would lose them).
    """
    start = since.replace(day=1)
    if start > now.date():
        raise InvalidInput(f"--since {since} is in the future")
    first_whole = kept_from.date() if kept_from.date().day == 1 else _next_month(kept_from.date())
    if start < first_whole:
        raise InvalidInput(f"events are kept from {kept_from:%Y-%m-%d} (CSDESK_EVENTS_KEEP_DAYS), so months from "
                           f"{first_whole} on can be rebuilt; got --since {since}")
    if session.get_bind().dialect.name == "postgresql":
        # No roll-up pass runs meanwhile (on SQLite the write lock already sees to it).
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK_KEY})
    result = Rebuilt(since=start)
    result.users_remapped = await _remap_users(session)
    counted_before = {(row.account_id, row.period_start) for row in await session.execute(
        select(EventUsage.account_id, EventUsage.period_start).where(EventUsage.period_start >= start))}
    for table in (EventUsage, EventUsageUser, EventUsageFeature):
        await session.execute(delete(table).where(table.period_start >= start)
                              .execution_options(synchronize_session=False))
    from_moment = datetime.combine(start, time(), tzinfo=UTC)
    counted_after: set[tuple[int, date]] = set()
    last_id = 0
    while True:
        # Activity the roll-up has read (NEW events it will count when it gets to them).
        rows = (await session.execute(
            select(ProductEvent.id, ProductEvent.occurred_at, ProductEvent.user_key, ProductEvent.feature,
                   ProductUser.account_id)
            .outerjoin(ProductUser, ProductUser.user_key == ProductEvent.user_key)
            .where(ProductEvent.occurred_at >= from_moment, ProductEvent.type.in_(ACTIVITY),
                   ProductEvent.state.in_((COUNTED, WAITING)), ProductEvent.id > last_id)
            .order_by(ProductEvent.id).limit(REPLAY_CHUNK))).all()
        if not rows:
            break
        last_id = rows[-1].id
        activity = [Activity(row.account_id, month_of(row.occurred_at), row.user_key, row.feature)
                    for row in rows if row.account_id is not None]
        counted_after.update((item.account_id, item.period_start) for item in activity)
        result.events += len(activity)
        await count_activity(session, activity, now=now)
        for state, ids in ((COUNTED, [row.id for row in rows if row.account_id is not None]),
                           (WAITING, [row.id for row in rows if row.account_id is None])):
            await set_state(session, ids, state)
    # Months that lost all their events (their users moved) are rewritten to zero.
    await write_snapshots(session, dict.fromkeys(counted_before - counted_after, (0, 0, 0)), now=now)
    months = counted_before | counted_after
    result.months = len(months)
    result.accounts = {account_id for account_id, _ in months}
    await mark_accounts(session, result.accounts, now=now, reason="events.rebuild")
    return result


async def _remap_users(session: AsyncSession) -> int:
    """Point each user at the account their latest groupId names now; returns how many moved."""
    users = (await session.execute(select(ProductUser.user_key, ProductUser.group_id, ProductUser.account_id)
                                   .where(ProductUser.group_id.is_not(None)))).all()
    accounts = await accounts_for_groups(session, {user.group_id for user in users})
    moved = [(user.user_key, accounts[user.group_id]) for user in users
             if user.group_id in accounts and accounts[user.group_id] != user.account_id]
    if moved:
        users = ProductUser.__table__
        await session.execute(update(users).where(users.c.user_key == bindparam("key"))
                              .values(account_id=bindparam("account"), contact_id=None),
                              [{"key": user_key, "account": account_id} for user_key, account_id in moved])
    return len(moved)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
