"""Agent runs: one row per cycle, opened at the start and closed with its counts, even when interrupted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
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
