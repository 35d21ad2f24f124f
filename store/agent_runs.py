"""Agent runs: one row per cycle, opened at the start and closed with its counts, even when interrupted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Account, AgentRun


async def open_run(session: AsyncSession, *, kind: str, now: datetime) -> int:
    run = AgentRun(kind=kind, started_at=now, status="running")
    session.add(run)
    await session.flush()
    return run.id


async def close_run(session: AsyncSession, *, run_id: int, status: str, now: datetime, counts: dict[str, Any],
                    error: str | None = None) -> None:
    await session.execute(update(AgentRun).where(AgentRun.id == run_id)
                          .values(status=status, finished_at=now, counts=counts, error=error))


async def active_account_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Account.id).where(Account.status == "active").order_by(Account.id)))


WORKER_KIND = "assessment-worker"
# Arbitrary, fixed: the PostgreSQL advisory lock under which workers join a shared cycle.
CYCLE_LOCK_KEY = 7_214_002
# A worker run older than this that never closed (a killed process) no longer holds a cycle open.
CYCLE_STALE_AFTER = timedelta(hours=6)


async def join_cycle(session: AsyncSession, *, now: datetime) -> tuple[int, datetime]:
    """Open this worker's run and say when the shared cycle began: when the earliest worker still running
    started, or now for the first one. Workers joining at once take turns (an advisory lock on
    PostgreSQL; SQLite's write transactions are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CYCLE_LOCK_KEY})
    started = await session.scalar(select(func.min(AgentRun.started_at)).where(
        AgentRun.kind == WORKER_KIND, AgentRun.status == "running", AgentRun.started_at > now - CYCLE_STALE_AFTER))
    run_id = await open_run(session, kind=WORKER_KIND, now=now)
    return run_id, started or now


async def claim_accounts(session: AsyncSession, *, cycle_started: datetime, now: datetime,
                         limit: int) -> list[int]:
    """Claim up to `limit` active accounts no worker of this cycle has claimed yet.

    `FOR UPDATE SKIP LOCKED` lets concurrent workers on PostgreSQL pass over each other's rows instead
    of waiting or taking them twice; the claim mark then keeps them out of later batches.
    """
    accounts = Account.__table__
    unclaimed = select(accounts.c.id).where(
        accounts.c.status == "active",
        or_(accounts.c.cycle_claimed_at.is_(None), accounts.c.cycle_claimed_at < cycle_started)) \
        .order_by(accounts.c.id).limit(limit).with_for_update(skip_locked=True)
    claimed = await session.execute(update(accounts).where(accounts.c.id.in_(unclaimed.scalar_subquery()))
                                    .values(cycle_claimed_at=now).returning(accounts.c.id))
    return sorted(claimed.scalars())
