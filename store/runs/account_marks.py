"""Accounts marked for re-assessment: ingestion and imports mark the accounts whose signals they changed;
`csdesk worker --watch` claims marked accounts, assesses them and clears the marks it took in.

Several workers share the marks as they share a cycle: a claim holds an account for a lease (on
PostgreSQL rows are claimed with SKIP LOCKED, so two workers never claim the same account at once), and
a change that arrives while an account is held keeps it pending for the next claim rather than being
cleared with the one that was assessed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import AccountMark
from store.database.one_hop import on_session
from store.database.upsert import insert_for

MARKS = AccountMark.__table__


async def mark_accounts(session: AsyncSession, account_ids: Iterable[int], *, now: datetime, reason: str) -> int:
    """Mark the accounts as changed at `now`, in the caller's transaction; returns how many."""
    return await on_session(session, mark_accounts_on, account_ids, now=now, reason=reason)


def mark_accounts_on(db: Connection, account_ids: Iterable[int], *, now: datetime, reason: str) -> int:
    """`mark_accounts`, on a unit of work's connection (see store.database.one_hop)."""
    rows = [{"account_id": account_id, "marked_at": now, "pending_since": now, "reason": reason}
            for account_id in sorted(set(account_ids))]
    if rows:
        db.execute(_marking(db.dialect.name), rows)
    return len(rows)


@functools.cache
def _marking(dialect: str) -> Any:
    """Insert a mark, or move an existing one's time and reason on; an account already pending stays
    pending since the earlier change."""
    statement = insert_for(dialect, MARKS)
    excluded = statement.excluded
    return statement.on_conflict_do_update(index_elements=["account_id"], set_={
        "marked_at": excluded.marked_at, "reason": excluded.reason,
        "pending_since": func.coalesce(MARKS.c.pending_since, excluded.pending_since)})


@dataclass(frozen=True)
class Claimed:
    account_id: int
    pending_since: datetime


async def claim_marked(session: AsyncSession, *, claimer: int, now: datetime, lease: timedelta,
                       limit: int) -> list[Claimed]:
    """Hold up to `limit` pending accounts, the longest waiting first, for `lease`; an account another
    claimer holds is skipped until its lease runs out (a claimer that died gives its accounts back)."""
    free = or_(MARKS.c.claimed_until.is_(None), MARKS.c.claimed_until < now)
    rows = (await session.execute(
        select(MARKS.c.account_id, MARKS.c.pending_since)
        .where(MARKS.c.pending_since.is_not(None), free)
        .order_by(MARKS.c.pending_since).limit(limit)
        .with_for_update(skip_locked=True))).all()
    if not rows:
        return []
    await session.execute(update(MARKS).where(MARKS.c.account_id.in_([row.account_id for row in rows]))
                          .values(claimed_by=claimer, claimed_at=now, claimed_until=now + lease))
    return [Claimed(row.account_id, row.pending_since) for row in rows]


async def finish_marked(session: AsyncSession, claimed: list[Claimed], *, claimer: int, now: datetime) -> None:
    """Clear the marks the claimer assessed; a change made after the claim stays pending (from then)."""
    if not claimed:
        return
    changed_since_claim = MARKS.c.marked_at > MARKS.c.claimed_at
    await session.execute(
        update(MARKS).where(and_(MARKS.c.account_id == bindparam("id"), MARKS.c.claimed_by == claimer))
        .values(assessed_at=now, lag_seconds=bindparam("lag"),
                pending_since=case((changed_since_claim, MARKS.c.marked_at), else_=None),
                claimed_by=None, claimed_at=None, claimed_until=None)
        .execution_options(synchronize_session=False),
        [{"id": item.account_id, "lag": round((now - item.pending_since).total_seconds(), 3)} for item in claimed])


async def pending_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(MARKS).where(MARKS.c.pending_since.is_not(None)))



async def clear_marked_before(session: AsyncSession, *, before: datetime, now: datetime) -> int:
    """Clear the marks of changes made before `before` (a whole-portfolio cycle that began then has
    assessed those accounts), except marks a watcher holds; returns how many."""
    free = or_(MARKS.c.claimed_until.is_(None), MARKS.c.claimed_until < now)
    rows = (await session.execute(select(MARKS.c.account_id, MARKS.c.pending_since).where(
        MARKS.c.pending_since.is_not(None), MARKS.c.marked_at < before, free))).all()
    if rows:
        await session.execute(
            update(MARKS).where(MARKS.c.account_id == bindparam("id"), MARKS.c.marked_at < before)
            .values(pending_since=None, assessed_at=now, lag_seconds=bindparam("lag"))
            .execution_options(synchronize_session=False),
            [{"id": row.account_id, "lag": round((now - row.pending_since).total_seconds(), 3)} for row in rows])
    return len(rows)


# What a CSM's own writes mark: the assessment's inputs moved, so the account page and the brief say the
# assessment predates the change until the next one takes it in (a watch worker does within seconds).
CHANGE_WORDS = {
    "renewal.update": "the renewal changed",
    "touchpoint.create": "a touchpoint was logged",
    "contact.update": "a contact changed",
    "success_plan.update": "the success plan changed",
    "events": "product events arrived",
    "events.rebuild": "product usage was recounted",
}
# Each account's pending mark — when it last changed in a way not yet assessed, and why it was marked (a
# reason code) — for a read to join on account_id.
PENDING_MARKS = select(MARKS.c.account_id, MARKS.c.marked_at, MARKS.c.reason) \
    .where(MARKS.c.pending_since.is_not(None)).subquery("pending_marks")


def change_words(reason: str) -> str:
    """A mark's reason in words: "the renewal changed", "usage imported"."""
    return CHANGE_WORDS.get(reason) or (f"{reason.removeprefix('import.')} imported"
                                        if reason.startswith("import.") else reason)
