"""store.database.engine.transaction, the unit every tool call runs in: it commits what the block did, rolls back
all of it when the block raises or the commit fails, and always gives its connection back to the pool."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from store.database.engine import transaction
from store.database.models import AuditEvent, User
from tests.conftest import NOW, Db


def checked_out(db: Db) -> int:
    """Connections out of the pool."""
    return db.app.engine.sync_engine.pool.checkedout()


async def users_named(db: Db, name: str) -> int:
    async with transaction(db.app.read_sessions) as session:
        return await session.scalar(select(func.count()).select_from(User).where(User.name == name))


async def test_the_block_is_committed_when_it_ends(db: Db) -> None:
    async with transaction(db.app.write_sessions) as session:
        session.add(User(email="kept@example.com", name="Kept", role="csm", active=True, created_at=NOW))
        await session.flush()
    assert await users_named(db, "Kept") == 1
    assert checked_out(db) == 0


async def test_a_block_that_raises_leaves_nothing_behind(db: Db) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with transaction(db.app.write_sessions) as session:
            session.add(User(email="gone@example.com", name="Gone", role="csm", active=True, created_at=NOW))
            await session.flush()  # written in the transaction, then rolled back with it
            raise RuntimeError("changed my mind")
    assert await users_named(db, "Gone") == 0
    assert checked_out(db) == 0


async def test_a_commit_that_fails_rolls_back_and_gives_the_connection_back(db: Db) -> None:
    with pytest.raises(IntegrityError):
        async with transaction(db.app.write_sessions) as session:
            session.add(AuditEvent(at=NOW, principal="test", action="x.y", entity="x", entity_id=1))
            # Never flushed in the block: the commit's flush fails on the duplicate email.
            session.add(User(email="ana@example.com", name="Twin", role="csm", active=True, created_at=NOW))
    assert await users_named(db, "Twin") == 0
    async with transaction(db.app.read_sessions) as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "x.y")) == 0
    assert checked_out(db) == 0


async def test_a_cancelled_block_rolls_back_and_gives_the_connection_back(db: Db) -> None:
    started = asyncio.Event()

    async def slow_write() -> None:
        async with transaction(db.app.write_sessions) as session:
            session.add(User(email="late@example.com", name="Late", role="csm", active=True, created_at=NOW))
            await session.flush()
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await users_named(db, "Late") == 0
    assert checked_out(db) == 0
    async with transaction(db.app.write_sessions) as session:
        session.add(User(email="next@example.com", name="Next", role="csm", active=True, created_at=NOW))
    assert await users_named(db, "Next") == 1
