"""The roll-up: stored product events into usage, in the order they were stored, once each.

Each pass takes the oldest NEW events, applies their identify and group calls in the order they
happened, counts their activity into the account-month counters, rewrites those months' usage
snapshots from the counters, marks the accounts whose usage changed for the watch, and moves every
event it read on (see ProductEvent) — all in one transaction, so an event is counted once or not at all.
One pass runs at a time: SQLite's write lock serialises them, and on PostgreSQL a pass that finds
another holding the roll-up's advisory lock leaves the work to it.

Usage per account and month: active users are the distinct product users with activity (track, page
or screen calls), usage count the activity events, features adopted the distinct features (a track
call's event name, or the property CSDESK_EVENTS_FEATURE_PROPERTY names). A user's activity counts
for the account their latest group call names (groupId = the account's external_id, else its domain);
the activity of a user in no known account waits, and is counted when a group call names one. A month
counted from events replaces what a file import or the demo had for that month.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.database.engine import transaction
from store.database.models import (
    Account,
    Contact,
    EventUsage,
    EventUsageFeature,
    EventUsageUser,
    ProductEvent,
    ProductUser,
    UsageSnapshot,
)
from store.database.upsert import excluded_of, insert_missing_returning, insert_or_update, insert_or_update_returning
from store.events.messages import ACTIVITY
from store.runs.account_marks import mark_accounts

EVENTS = ProductEvent.__table__
USERS = ProductUser.__table__
COUNTS = EventUsage.__table__
NEW, COUNTED, WAITING, APPLIED = 0, 1, 2, 3
# Events one pass takes: enough that a busy feed's accounts are written once a pass rather than once a
# request, few enough that a pass holds SQLite's write lock briefly so the senders' requests waiting for
# it get their turn. On SQLite 1,000 rather than 5,000 (bench.ingestion, one run each): 8,904 events/s
# accepted rather than 5,878, batch p99 1.8 s rather than 2.7 s, no request refused for a lock held past
# the busy timeout (one was); the roll-up then finishes a 60 s burst 20 s after it rather than at once.
# PostgreSQL has no single writer to share; there, with 1,000, the roll-up had counted 362,000 of a 60 s
# burst's 1.24 million events twelve minutes after the burst (with 5,000, an earlier run counted about
# 4,800 events/s), so it keeps 5,000.
PASS_EVENTS = {"sqlite": 1_000, "postgresql": 5_000}
DEFAULT_PASS_EVENTS = 5_000
# Between passes the write lock is left free this long, so the requests waiting for it get their turn
# (SQLite's lock is not fair: a pass that began again at once could keep them waiting).
PAUSE_BETWEEN_PASSES_SECONDS = 0.02
# A user's last-seen time is written when it moves by this much, not on every event.
SEEN_EVERY = timedelta(hours=1)
# Arbitrary, fixed: the PostgreSQL advisory lock one roll-up pass holds.
ROLLUP_LOCK_KEY = 7_214_003


@dataclass
class RolledUp:
    """What one pass did."""

    events: int = 0
    counted: int = 0
    waiting: int = 0
    accounts: set[int] = field(default_factory=set)
    # The pass took as many events as it may: more may be waiting.
    more: bool = False


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity event, as the counters take it."""

    account_id: int
    period_start: date
    user_key: str
    feature: str | None


@dataclass(slots=True)
class _User:
    account_id: int | None = None
    group_id: str | None = None
    email: str | None = None
    contact_id: int | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    stored: bool = False
    changed: bool = False


def pass_events(dialect: str) -> int:
    return PASS_EVENTS.get(dialect, DEFAULT_PASS_EVENTS)


def month_of(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


async def roll_up_pending(session: AsyncSession, *, now: datetime, limit: int | None = None) -> RolledUp:
    """One pass over the oldest NEW events (up to `limit`, by default the database's PASS_EVENTS), in the
    caller's write transaction."""
    if limit is None:
        limit = pass_events(session.get_bind().dialect.name)
    if session.get_bind().dialect.name == "postgresql" and not await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK_KEY}):
        return RolledUp()
    events = (await session.execute(
        select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.user_key, EVENTS.c.feature, EVENTS.c.group_id, EVENTS.c.email,
               EVENTS.c.occurred_at).where(EVENTS.c.state == NEW).order_by(EVENTS.c.id).limit(limit))).all()
    result = RolledUp(events=len(events), more=len(events) == limit)
    if not events:
        return result
    users = await _users(session, {event.user_key for event in events})
    newly_mapped = await _apply_identities(session, events, users)
    activity, counted_ids = await _waiting_activity(session, newly_mapped)
    waiting_ids, applied_ids = [], []
    for event in events:
        if event.type not in ACTIVITY:
            applied_ids.append(event.id)
        elif (account_id := users[event.user_key].account_id) is None:
            waiting_ids.append(event.id)
        else:
            counted_ids.append(event.id)
            activity.append(Activity(account_id, month_of(event.occurred_at), event.user_key, event.feature))
    await _save_users(session, users)
    for state, ids in ((COUNTED, counted_ids), (WAITING, waiting_ids), (APPLIED, applied_ids)):
        await set_state(session, ids, state)
    result.counted, result.waiting = len(activity), len(waiting_ids)
    result.accounts = await count_activity(session, activity, now=now)
    await mark_accounts(session, result.accounts, now=now, reason="events")
    return result


async def roll_up_all(write_sessions: async_sessionmaker[AsyncSession], *, now: datetime) -> RolledUp:
    """Passes until no NEW event is left, each its own transaction; their totals."""
    total = RolledUp()
    while True:
        async with transaction(write_sessions) as session:
            done = await roll_up_pending(session, now=now)
        total.events += done.events
        total.counted += done.counted
        total.waiting += done.waiting
        total.accounts |= done.accounts
        if not done.more:
            return total
        await asyncio.sleep(PAUSE_BETWEEN_PASSES_SECONDS)


async def _users(session: AsyncSession, keys: set[str]) -> dict[str, _User]:
    found = {row.user_key: _User(account_id=row.account_id, group_id=row.group_id, email=row.email,
                                 contact_id=row.contact_id, first_seen_at=row.first_seen_at,
                                 last_seen_at=row.last_seen_at, stored=True)
             for row in await session.execute(select(USERS).where(USERS.c.user_key.in_(list(keys))))}
    return {key: found.get(key) or _User() for key in keys}


async def _apply_identities(session: AsyncSession, events: list, users: dict[str, _User]) -> dict[str, int]:
    """Apply identify and group calls in the order they happened; return the users who now belong to an
    account and belonged to none before (their waiting activity is counted now)."""
    accounts = await accounts_for_groups(session, {e.group_id for e in events if e.type == "group" and e.group_id})
    unmapped_before = {key for key, user in users.items() if user.account_id is None}
    for event in sorted(events, key=lambda e: e.occurred_at):
        user = users[event.user_key]
        seen = event.occurred_at
        if user.first_seen_at is None or seen < user.first_seen_at:
            user.first_seen_at, user.changed = seen, True
        if user.last_seen_at is None or seen >= user.last_seen_at + SEEN_EVERY:
            user.last_seen_at, user.changed = seen, True
        if event.type == "group" and event.group_id:
            if event.group_id != user.group_id:
                user.group_id, user.changed = event.group_id, True
            if (account_id := accounts.get(event.group_id)) is not None and account_id != user.account_id:
                user.account_id, user.contact_id = account_id, None
        if event.email and event.email != user.email:
            user.email, user.contact_id, user.changed = event.email, None, True
    await _match_contacts(session, users)
    return {key: users[key].account_id for key in unmapped_before if users[key].account_id is not None}


async def accounts_for_groups(session: AsyncSession, group_ids: set[str]) -> dict[str, int]:
    """The account each groupId names: the account with that external_id, else with that domain."""
    if not group_ids:
        return {}
    by_domain = {row.domain: row.id for row in await session.execute(
        select(Account.id, Account.domain).where(Account.domain.in_([g.strip().lower() for g in group_ids])))}
    by_external = {row.external_id: row.id for row in await session.execute(
        select(Account.id, Account.external_id).where(Account.external_id.in_(list(group_ids))))}
    found = {}
    for group_id in group_ids:
        account_id = by_external.get(group_id) or by_domain.get(group_id.strip().lower())
        if account_id is not None:
            found[group_id] = account_id
    return found


async def _match_contacts(session: AsyncSession, users: dict[str, _User]) -> None:
    """Attach each user with an email and an account to that account's contact with the email."""
    wanted = {(user.account_id, user.email) for user in users.values()
              if user.email and user.account_id is not None and user.contact_id is None}
    if not wanted:
        return
    found = {(row.account_id, row.email): row.id for row in await session.execute(
        select(Contact.id, Contact.account_id, Contact.email)
        .where(tuple_(Contact.account_id, Contact.email).in_(sorted(wanted))))}
    for user in users.values():
        if user.contact_id is None and (contact_id := found.get((user.account_id, user.email))) is not None:
            user.contact_id, user.changed = contact_id, True


async def _waiting_activity(session: AsyncSession, newly_mapped: dict[str, int]) -> tuple[list[Activity], list[int]]:
    """The waiting activity of users who now belong to an account, and those events' ids."""
    if not newly_mapped:
        return [], []
    rows = (await session.execute(
        select(EVENTS.c.id, EVENTS.c.user_key, EVENTS.c.occurred_at, EVENTS.c.feature)
        .where(EVENTS.c.state == WAITING, EVENTS.c.user_key.in_(list(newly_mapped))))).all()
    return ([Activity(newly_mapped[row.user_key], month_of(row.occurred_at), row.user_key, row.feature)
             for row in rows], [row.id for row in rows])


async def _save_users(session: AsyncSession, users: dict[str, _User]) -> None:
    rows = [{"user_key": key, "account_id": user.account_id, "group_id": user.group_id, "email": user.email,
             "contact_id": user.contact_id, "first_seen_at": user.first_seen_at, "last_seen_at": user.last_seen_at}
            for key, user in users.items() if user.changed or not user.stored]
    await insert_or_update(session, USERS, rows, keys=["user_key"],
                           update=["account_id", "group_id", "email", "contact_id", "first_seen_at", "last_seen_at"])


async def set_state(session: AsyncSession, ids: list[int], state: int) -> None:
    for start in range(0, len(ids), 1_000):
        await session.execute(update(EVENTS).where(EVENTS.c.id.in_(ids[start:start + 1_000])).values(state=state)
                              .execution_options(synchronize_session=False))


async def count_activity(session: AsyncSession, activity: Iterable[Activity], *, now: datetime) -> set[int]:
    """Add the activity to its account-months' counts and set those months' usage snapshots to them;
    returns the accounts whose usage changed.

    A month's active users and features grow by the (account, month, user) and (account, month, feature)
    rows this activity adds that were not there yet, so no count is read back from those tables."""
    events: dict[tuple[int, date], int] = defaultdict(int)
    active: set[tuple[int, date, str]] = set()
    features: set[tuple[int, date, str]] = set()
    for item in activity:
        events[(item.account_id, item.period_start)] += 1
        active.add((item.account_id, item.period_start, item.user_key))
        if item.feature:
            features.add((item.account_id, item.period_start, item.feature))
    if not events:
        return set()
    users_table, features_table = EventUsageUser.__table__, EventUsageFeature.__table__
    new_users = Counter((row[0], row[1]) for row in await insert_missing_returning(
        session, users_table, [{"account_id": a, "period_start": p, "user_key": u} for a, p, u in sorted(active)],
        keys=["account_id", "period_start", "user_key"],
        returning=[users_table.c.account_id, users_table.c.period_start]))
    new_features = Counter((row[0], row[1]) for row in await insert_missing_returning(
        session, features_table, [{"account_id": a, "period_start": p, "feature": f} for a, p, f in sorted(features)],
        keys=["account_id", "period_start", "feature"],
        returning=[features_table.c.account_id, features_table.c.period_start]))
    excluded = excluded_of(session, COUNTS)
    totals = await insert_or_update_returning(
        session, COUNTS, [{"account_id": a, "period_start": p, "events": n, "users": new_users[(a, p)],
                           "features": new_features[(a, p)]} for (a, p), n in sorted(events.items())],
        keys=["account_id", "period_start"],
        update={"events": COUNTS.c.events + excluded.events, "users": COUNTS.c.users + excluded.users,
                "features": COUNTS.c.features + excluded.features},
        returning=[COUNTS.c.account_id, COUNTS.c.period_start, COUNTS.c.events, COUNTS.c.users, COUNTS.c.features])
    await write_snapshots(session, {(row[0], row[1]): (row[2], row[3], row[4]) for row in totals}, now=now)
    return {account_id for account_id, _ in events}


async def write_snapshots(session: AsyncSession, months: dict[tuple[int, date], tuple[int, int, int]], *,
                          now: datetime) -> None:
    """Set the usage snapshots of these account-months to (usage count, active users, features adopted)."""
    current = month_of(now)
    rows = [{"account_id": a, "period_start": p, "usage_count": events, "active_users": users,
             "features_adopted": adopted, "running": p >= current}
            for (a, p), (events, users, adopted) in sorted(months.items())]
    await insert_or_update(session, UsageSnapshot.__table__, rows, keys=["account_id", "period_start"],
                           update=["usage_count", "active_users", "features_adopted", "running"])
