"""Units of work on a SQLite file run on connections kept checked out between them (store.lanes): a
unit's ORM statements and its core_rows and core_write run in one transaction on one connection; the
connections are reused, at most KEPT of each kind kept idle, any number borrowed at once; closing the
sessions gives every kept connection to the pool (test_transaction: a unit cut short gives its
connection back clean)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import bindparam, func, insert, select

from server.context import open_app
from server.settings import Settings
from store.db import (
    SessionMaker,
    close_sessions,
    core_rows,
    core_write,
    create_engine,
    session_factory,
    sqlite_url,
    transaction,
)
from store.lanes import KEPT, LANE_KEY
from store.models import AuditEvent, User
from tests.conftest import NOW

AUDITED = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == bindparam("action"))


def kept(sessions: object) -> int:
    assert isinstance(sessions, SessionMaker) and sessions.lanes is not None
    return sessions.lanes.idle


async def test_the_orm_and_core_statements_of_a_unit_share_its_transaction(sqlite_settings: Settings) -> None:
    async with open_app(sqlite_settings, migrate=False) as app:
        async with transaction(app.write_sessions) as session:
            session.add(AuditEvent(at=NOW, principal="test", action="orm.add", entity="x", entity_id=1))
            await session.flush()
            assert (await core_rows(session, AUDITED, {"action": "orm.add"})).one()[0] == 1
            assert await core_write(session, insert(AuditEvent.__table__), {
                "at": NOW, "principal": "test", "action": "core.add", "entity": "x", "entity_id": 2}) == 1
            assert await session.scalar(select(func.count()).select_from(AuditEvent)
                                        .where(AuditEvent.action == "core.add")) == 1
            assert session.info[LANE_KEY].sync_connection is (await session.connection()).sync_connection
        async with transaction(app.read_sessions) as session:
            for action in ("orm.add", "core.add"):
                assert (await core_rows(session, AUDITED, {"action": action})).one()[0] == 1


async def test_kept_connections_are_reused_and_any_number_borrowed_at_once(sqlite_settings: Settings) -> None:
    async with open_app(sqlite_settings, migrate=False) as app:
        pool = app.engine.sync_engine.pool
        async with transaction(app.read_sessions) as session:
            first = session.info[LANE_KEY].sync_connection
        for _ in range(5):
            async with transaction(app.read_sessions) as session:
                assert session.info[LANE_KEY].sync_connection is first
        assert kept(app.read_sessions) == 1 and pool.checkedout() == 1

        inside = asyncio.Event()
        waiting = 0

        async def unit() -> int:
            nonlocal waiting
            async with transaction(app.read_sessions) as session:
                waiting += 1
                if waiting == 8:
                    inside.set()
                await inside.wait()  # all eight units hold a connection at once
                return (await core_rows(session, select(func.count()).select_from(User), {})).one()[0]

        assert len(set(await asyncio.gather(*(unit() for _ in range(8))))) == 1
        assert kept(app.read_sessions) == KEPT
        assert pool.checkedout() == KEPT  # the others went back to the pool
        read_sessions, write_sessions = app.read_sessions, app.write_sessions
    assert kept(read_sessions) == kept(write_sessions) == 0
    assert pool.checkedout() == 0


async def test_only_sqlite_files_keep_connections(tmp_path: Path) -> None:
    file_engine, memory_engine = create_engine(sqlite_url(str(tmp_path / "f.db"))), create_engine("sqlite+aiosqlite://")
    try:
        assert session_factory(file_engine).lanes is not None
        assert session_factory(memory_engine).lanes is None
        assert session_factory(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")).lanes is None
        await close_sessions(session_factory(file_engine))
    finally:
        await file_engine.dispose()
        await memory_engine.dispose()
