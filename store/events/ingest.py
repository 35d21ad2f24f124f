"""Storing a checked request's events once, and rolling the activity among them into usage.

A request is one transaction: its new events, what its identify and group calls say about their users,
the account-month counters, the usage snapshots read from them and the marks on the accounts whose
usage changed commit together, or nothing does. An event whose messageId is stored already is left
out, so a resent batch counts once.

Usage per account and month: active users are the distinct product users with activity (track, page
or screen calls), usage count the activity events, features adopted the distinct features (a track
call's event name, or the property CSDESK_EVENTS_FEATURE_PROPERTY names). A user's activity counts
for the account their group call names (groupId = the account's external_id, else its domain); the
activity of a user not yet in any account is kept and counted when their group call arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

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
from store.database.upsert import excluded_of, insert_missing, insert_or_update
from store.events.messages import ACTIVITY, Message
from store.runs.account_marks import mark_accounts

EVENTS = ProductEvent.__table__
USERS = ProductUser.__table__
COUNTS = EventUsage.__table__


@dataclass
class Ingested:
    """What one request did."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    # Activity counted for an account, this request's and earlier activity of users it mapped.
    counted: int = 0
    # Activity kept for users in no known account yet.
    unmapped: int = 0
    accounts: set[int] = field(default_factory=set)


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


@dataclass(frozen=True, slots=True)
class Activity:
    """One activity event, as the roll-up counts it."""

    account_id: int
    period_start: date
    user_key: str
    feature: str | None


def month_of(moment: datetime) -> date:
    return moment.date().replace(day=1)


async def ingest(session: AsyncSession, messages: list[Message], *, token_id: int | None,
                 received_at: datetime) -> Ingested:
    """Store the events not stored yet and roll their activity up, in the caller's transaction."""
    result = Ingested(received=len(messages))
    unique: dict[str, Message] = {}
    for message in messages:
        unique.setdefault(message.message_id, message)
    stored = set((await session.scalars(select(EVENTS.c.message_id)
                                        .where(EVENTS.c.message_id.in_(list(unique))))).all())
    new = [message for message_id, message in unique.items() if message_id not in stored]
    result.duplicates = len(messages) - len(new)
    if not new:
        return result
    users = await _users(session, {message.user_key for message in new})
    newly_mapped = await _apply_identities(session, new, users, received_at=received_at)
    activity = await _backfill(session, newly_mapped)
    rows = []
    for message in new:
        user = users[message.user_key]
        account_id = user.account_id
        if message.type in ACTIVITY:
            if account_id is None:
                result.unmapped += 1
            else:
                activity.append(Activity(account_id, month_of(message.occurred_at), message.user_key,
                                         message.feature))
        rows.append({"message_id": message.message_id, "type": message.type, "user_key": message.user_key,
                     "name": message.name, "feature": message.feature, "occurred_at": message.occurred_at,
                     "received_at": received_at, "account_id": account_id, "token_id": token_id,
                     "body": message.body})
    await session.execute(insert(EVENTS), rows)
    await _save_users(session, users)
    result.stored = len(rows)
    result.counted = len(activity)
    result.accounts = await roll_up(session, activity, now=received_at)
    await mark_accounts(session, result.accounts, now=received_at, reason="events")
    return result


async def _users(session: AsyncSession, keys: set[str]) -> dict[str, _User]:
    found = {row.user_key: _User(account_id=row.account_id, group_id=row.group_id, email=row.email,
                                 contact_id=row.contact_id, first_seen_at=row.first_seen_at,
                                 last_seen_at=row.last_seen_at, stored=True)
             for row in await session.execute(select(USERS).where(USERS.c.user_key.in_(list(keys))))}
    return {key: found.get(key) or _User() for key in keys}


async def _apply_identities(session: AsyncSession, new: list[Message], users: dict[str, _User], *,
                            received_at: datetime) -> dict[str, int]:
    """Apply identify and group calls in the order they happened; return the users who now belong to an
    account and belonged to none before (their earlier activity is counted now)."""
    accounts = await accounts_for_groups(session, {m.group_id for m in new if m.type == "group" and m.group_id})
    unmapped_before = {key for key, user in users.items() if user.account_id is None}
    for message in sorted(new, key=lambda m: m.occurred_at):
        user = users[message.user_key]
        seen = message.occurred_at
        if user.first_seen_at is None or seen < user.first_seen_at:
            user.first_seen_at, user.changed = seen, True
        if user.last_seen_at is None or seen > user.last_seen_at:
            user.last_seen_at, user.changed = seen, True
        if message.type == "group" and message.group_id:
            user.group_id, user.changed = message.group_id, True
            if (account_id := accounts.get(message.group_id)) is not None and account_id != user.account_id:
                user.account_id, user.contact_id = account_id, None
        if message.email and message.email != user.email:
            user.email, user.contact_id, user.changed = message.email, None, True
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


async def _backfill(session: AsyncSession, newly_mapped: dict[str, int]) -> list[Activity]:
    """Count for their account the stored activity of users who were in none until now."""
    activity: list[Activity] = []
    for user_key, account_id in sorted(newly_mapped.items()):
        rows = await session.execute(
            update(EVENTS).where(EVENTS.c.user_key == user_key, EVENTS.c.account_id.is_(None),
                                 EVENTS.c.type.in_(ACTIVITY))
            .values(account_id=account_id).returning(EVENTS.c.occurred_at, EVENTS.c.feature))
        activity.extend(Activity(account_id, month_of(row.occurred_at), user_key, row.feature) for row in rows)
    return activity


async def _save_users(session: AsyncSession, users: dict[str, _User]) -> None:
    rows = [{"user_key": key, "account_id": user.account_id, "group_id": user.group_id, "email": user.email,
             "contact_id": user.contact_id, "first_seen_at": user.first_seen_at, "last_seen_at": user.last_seen_at}
            for key, user in users.items() if user.changed or not user.stored]
    await insert_or_update(session, USERS, rows, keys=["user_key"],
                           update=["account_id", "group_id", "email", "contact_id", "first_seen_at", "last_seen_at"])


async def roll_up(session: AsyncSession, activity: Iterable[Activity], *, now: datetime) -> set[int]:
    """Add the activity to its account-months' counters and rewrite those months' usage snapshots;
    returns the accounts whose usage changed."""
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
    excluded = excluded_of(session, COUNTS)
    await insert_or_update(session, COUNTS, [{"account_id": a, "period_start": p, "events": n}
                                             for (a, p), n in sorted(events.items())],
                           keys=["account_id", "period_start"], update={"events": COUNTS.c.events + excluded.events})
    await insert_missing(session, EventUsageUser.__table__, [{"account_id": a, "period_start": p, "user_key": u}
                                                            for a, p, u in sorted(active)],
                         keys=["account_id", "period_start", "user_key"])
    await insert_missing(session, EventUsageFeature.__table__, [{"account_id": a, "period_start": p, "feature": f}
                                                               for a, p, f in sorted(features)],
                         keys=["account_id", "period_start", "feature"])
    await write_snapshots(session, sorted(events), now=now)
    return {account_id for account_id, _ in events}


async def write_snapshots(session: AsyncSession, months: list[tuple[int, date]], *, now: datetime) -> None:
    """Set the usage snapshots of these account-months to what their counters say."""
    if not months:
        return
    counts = {(row.account_id, row.period_start): row.events for row in await session.execute(
        select(COUNTS.c.account_id, COUNTS.c.period_start, COUNTS.c.events)
        .where(tuple_(COUNTS.c.account_id, COUNTS.c.period_start).in_(months)))}
    active = await _distinct_counts(session, EventUsageUser, months)
    adopted = await _distinct_counts(session, EventUsageFeature, months)
    current = month_of(now)
    rows = [{"account_id": a, "period_start": p, "usage_count": counts.get((a, p), 0),
             "active_users": active.get((a, p), 0), "features_adopted": adopted.get((a, p), 0),
             "running": p >= current} for a, p in months]
    await insert_or_update(session, UsageSnapshot.__table__, rows, keys=["account_id", "period_start"],
                           update=["usage_count", "active_users", "features_adopted", "running"])


async def _distinct_counts(session: AsyncSession, table: type[EventUsageUser] | type[EventUsageFeature],
                           months: list[tuple[int, date]]) -> dict[tuple[int, date], int]:
    rows = await session.execute(
        select(table.account_id, table.period_start, func.count())
        .where(and_(tuple_(table.account_id, table.period_start).in_(months)))
        .group_by(table.account_id, table.period_start))
    return {(row[0], row[1]): row[2] for row in rows}
