"""Agent runs: one row per cycle, opened at the start and closed with its counts, even when interrupted.

Liveness is kept in real time (`wall_now`), apart from the business clock (`now`) that a demo may pin
to one instant: a run renews its heartbeat while it works, and a run whose heartbeat is older than the
lease died without closing (a killed process). On the machine a run's process ran on, a run whose
process has ended is known dead at once (store.runs.process_identity). Workers sharing a cycle
(`csdesk run --worker`) identify it by its first run's id, so a pinned clock cannot make two cycles
look like one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import Account, AgentRun
from store.errors import InvalidInput
from store.runs.process_identity import process_ended, this_machine

# How long a run may go without renewing its heartbeat before it counts as dead. Runs renew it four
# times per lease (agents.cycle), so one slow write does not make a live run look dead.
DEFAULT_LEASE = timedelta(minutes=2)
WORKER_KIND = "assessment-worker"
# Arbitrary, fixed: the PostgreSQL advisory lock under which workers join a shared cycle.
CYCLE_LOCK_KEY = 7_214_002


async def open_run(session: AsyncSession, *, kind: str, now: datetime, wall_now: datetime,
                   lease: timedelta = DEFAULT_LEASE) -> int:
    """Open a run, first closing runs that died without closing."""
    await close_dead_runs(session, now=now, wall_now=wall_now, lease=lease)
    run = AgentRun(kind=kind, started_at=now, status="running", heartbeat_at=wall_now, machine=this_machine(),
                   pid=os.getpid())
    session.add(run)
    await session.flush()
    return run.id


async def close_run(session: AsyncSession, *, run_id: int, status: str, now: datetime, counts: dict[str, Any],
                    error: str | None = None) -> bool:
    """Record how a run ended; False when it had already been closed as dead by another run."""
    closed = await session.execute(update(AgentRun).where(AgentRun.id == run_id, AgentRun.status == "running")
                                   .values(status=status, finished_at=now, counts=counts, error=error))
    return bool(closed.rowcount)


def _dead(wall_now: datetime, lease: timedelta) -> ColumnElement[bool]:
    # Runs opened before heartbeats existed have none: their start stands in for it.
    return and_(AgentRun.status == "running",
                func.coalesce(AgentRun.heartbeat_at, AgentRun.started_at) < wall_now - lease)


async def close_dead_runs(session: AsyncSession, *, now: datetime, wall_now: datetime,
                          lease: timedelta = DEFAULT_LEASE) -> int:
    """Record runs whose process died as interrupted: those whose process on this machine has ended, and
    those with no heartbeat within `lease`; how many there were."""
    ended = await _ended_here(session)
    closed = 0
    if ended:
        closed += (await session.execute(
            update(AgentRun).where(AgentRun.id.in_(ended), AgentRun.status == "running")
            .values(status="interrupted", finished_at=now,
                    error="its process ended without closing the run (seen from the same machine)")
            .execution_options(synchronize_session=False))).rowcount or 0
    closed += (await session.execute(
        update(AgentRun).where(_dead(wall_now, lease))
        .values(status="interrupted", finished_at=now,
                error="the process stopped without closing the run (no heartbeat within the lease)")
        .execution_options(synchronize_session=False))).rowcount or 0
    return closed


async def _ended_here(session: AsyncSession) -> list[int]:
    """The running runs of this machine whose process no longer exists."""
    running_here = await session.execute(select(AgentRun.id, AgentRun.pid).where(
        AgentRun.status == "running", AgentRun.machine == this_machine(), AgentRun.pid.is_not(None)))
    return [run_id for run_id, pid in running_here if process_ended(pid)]


async def beat(session: AsyncSession, *, run_id: int, wall_now: datetime) -> bool:
    """Renew a run's heartbeat; False when the run is no longer running (others took it for dead)."""
    renewed = await session.execute(update(AgentRun).where(AgentRun.id == run_id, AgentRun.status == "running")
                                    .values(heartbeat_at=wall_now))
    return bool(renewed.rowcount)


class RunLine(BaseModel):
    """One agent run as an operator reads it. With `status` "running": `ended` means its process, on
    this machine, no longer exists; `silent` that it stopped renewing its heartbeat more than a lease
    ago, most likely killed. The next run records either as interrupted."""

    id: int
    kind: str
    status: str
    ended: bool
    silent: bool
    pid: int | None
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    accounts: int | None
    assessed: int | None
    failures: int | None
    seconds: float | None
    error: str | None


async def recent_runs(session: AsyncSession, *, wall_now: datetime, lease: timedelta = DEFAULT_LEASE,
                      limit: int = 20) -> list[RunLine]:
    """The latest runs, newest first, each with its counts and whether a running one has gone silent.

    Raises:
        InvalidInput: limit is not between 1 and 200.
    """
    if not 1 <= limit <= 200:
        raise InvalidInput(f"limit must be between 1 and 200; got {limit}")
    runs = await session.scalars(select(AgentRun).order_by(AgentRun.id.desc()).limit(limit))
    ended = set(await _ended_here(session))
    lines = []
    for run in runs:
        counts = run.counts or {}
        last_sign = run.heartbeat_at or run.started_at
        lines.append(RunLine(
            id=run.id, kind=run.kind, status=run.status, ended=run.id in ended, pid=run.pid,
            silent=run.status == "running" and last_sign < wall_now - lease,
            started_at=run.started_at, finished_at=run.finished_at, heartbeat_at=run.heartbeat_at,
            accounts=counts.get("accounts"), assessed=counts.get("assessed"), failures=counts.get("failures"),
            seconds=counts.get("seconds"), error=run.error))
    return lines


async def active_account_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Account.id).where(Account.status == "active").order_by(Account.id)))


async def join_cycle(session: AsyncSession, *, now: datetime, wall_now: datetime,
                     lease: timedelta = DEFAULT_LEASE) -> tuple[int, int]:
    """Open this worker's run; returns its id and the cycle's: the id of the earliest live worker run,
    this one's for the first worker (dead workers are closed first, so they hold no cycle open).
    Workers joining at once take turns (an advisory lock on PostgreSQL; SQLite's write transactions
    are serial already), so run ids grow in the order workers join."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CYCLE_LOCK_KEY})
    run_id = await open_run(session, kind=WORKER_KIND, now=now, wall_now=wall_now, lease=lease)
    cycle_id = await session.scalar(select(func.min(AgentRun.id)).where(
        AgentRun.kind == WORKER_KIND, AgentRun.status == "running"))
    return run_id, cycle_id or run_id


async def claim_accounts(session: AsyncSession, *, run_id: int, cycle_id: int, wall_now: datetime, limit: int,
                         lease: timedelta = DEFAULT_LEASE) -> list[int]:
    """Claim for run `run_id` up to `limit` active accounts that no worker of cycle `cycle_id` holds or has
    finished: claimed in an earlier cycle or never, or claimed and left unfinished by a worker that has
    since died (interrupted, or no heartbeat within `lease`).

    `FOR UPDATE SKIP LOCKED` lets concurrent workers on PostgreSQL pass over each other's rows instead
    of waiting or taking them twice; the claim then keeps them out of later batches.
    """
    accounts = Account.__table__
    dead_workers = select(AgentRun.id).where(AgentRun.kind == WORKER_KIND,
                                             or_(AgentRun.status == "interrupted", _dead(wall_now, lease)))
    unclaimed = select(accounts.c.id).where(
        accounts.c.status == "active",
        or_(accounts.c.cycle_run_id.is_(None), accounts.c.cycle_run_id < cycle_id,
            and_(accounts.c.cycle_done_at.is_(None), accounts.c.cycle_run_id.in_(dead_workers)))) \
        .order_by(accounts.c.id).limit(limit).with_for_update(skip_locked=True)
    claimed = await session.execute(update(accounts).where(accounts.c.id.in_(unclaimed.scalar_subquery()))
                                    .values(cycle_run_id=run_id, cycle_done_at=None)
                                    .returning(accounts.c.id))
    return sorted(claimed.scalars())


async def finish_claims(session: AsyncSession, *, run_id: int, wall_now: datetime) -> None:
    """Mark the accounts a worker claimed as finished for this cycle: if the worker dies later, only the
    batch it was still working on goes back to the others."""
    accounts = Account.__table__
    await session.execute(update(accounts).where(accounts.c.cycle_run_id == run_id,
                                                 accounts.c.cycle_done_at.is_(None))
                          .values(cycle_done_at=wall_now))


async def still_held(session: AsyncSession, *, run_id: int, account_ids: list[int]) -> set[int]:
    """Which of `account_ids` run `run_id` still holds, locked until the transaction ends: a worker
    writes only those, so one taken for dead cannot write an account its replacement now holds."""
    accounts = Account.__table__
    return set(await session.scalars(
        select(accounts.c.id).where(accounts.c.id.in_(account_ids), accounts.c.cycle_run_id == run_id,
                                    accounts.c.cycle_done_at.is_(None)).with_for_update()))


async def watch_running(session: AsyncSession, *, wall_now: datetime, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Whether a `csdesk worker --watch` is alive: a running watch run that renewed its heartbeat within
    the lease."""
    alive = await session.scalar(select(func.count()).select_from(AgentRun).where(
        AgentRun.kind == "watch", AgentRun.status == "running", AgentRun.heartbeat_at >= wall_now - lease))
    return bool(alive)
