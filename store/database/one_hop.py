"""The one seam where a unit of work runs as a whole: a tool call's reads, or its one write, in one hop
to a database thread.

Through the async engine each SQLite statement crosses from the event loop to aiosqlite's thread and
back about four times (cursor, execute, fetch, close), and a transaction's begin and end cost three
more: the crossings of the account 360's thirteen statements, of a list's two and the caller's lookup,
or of a renewal move's read, update, audit row, mark and commit, cost more than SQLite's work. The units
behind the hot tools (the retention view, the account 360, the renewals list; moving a renewal) are
written as plain functions of a SQLAlchemy Connection and run here:
- on a SQLite file, on a worker thread (`anyio.to_thread`) with a synchronous SQLAlchemy engine of its
  own on the same file (pysqlite, configured as the async engine is): one hop for the whole unit, in one
  transaction — a read one, or a write one begun with BEGIN IMMEDIATE like every async write session's;
- elsewhere (PostgreSQL), inside an async session through `AsyncSession.run_sync`: each statement
  awaits the driver as any other does.
A call cancelled while its unit runs on the thread waits for the unit to end (anyio does not abandon the
thread), so a unit always commits or rolls back whole. `CSDESK_ONE_HOP_UNITS=false` sends SQLite units
the second way too (`make bench` compares the two).
Only public APIs of SQLAlchemy, anyio and the sqlite3 module are used."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.database.engine import WRITE_OPTIONS, is_sqlite_file, tune_sqlite

P = ParamSpec("P")
T = TypeVar("T")
UnitFn = Callable[Concatenate[Connection, P], T]


class OneHopUnits:
    """Runs units of work (plain functions of a Connection) as one transaction each."""

    def __init__(self, engine: AsyncEngine, read_sessions: async_sessionmaker[AsyncSession],
                 write_sessions: async_sessionmaker[AsyncSession], *, enabled: bool = True):
        # The sessions units run in where they do not run on a thread, for callers' work that is not a unit.
        self.read_sessions, self.write_sessions = read_sessions, write_sessions
        self._engine: Engine | None = None
        if enabled and is_sqlite_file(engine.url):
            self._engine = create_engine(make_url(engine.url).set(drivername="sqlite+pysqlite"))
            tune_sqlite(self._engine)

    @property
    def on_thread(self) -> bool:
        """Whether units run on a worker thread (a SQLite file) rather than in an async session."""
        return self._engine is not None

    async def run(self, fn: UnitFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A read unit, in a read transaction."""
        return await self._run(self.read_sessions, self._engine, fn, *args, **kwargs)

    async def write(self, fn: UnitFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A write unit, in a write transaction: committed if it returns, rolled back if it raises."""
        engine = self._engine.execution_options(**WRITE_OPTIONS) if self._engine is not None else None
        return await self._run(self.write_sessions, engine, fn, *args, **kwargs)

    async def _run(self, sessions: async_sessionmaker[AsyncSession], engine: Engine | None, fn: UnitFn[P, T],
                   /, *args: P.args, **kwargs: P.kwargs) -> T:
        if engine is None:
            async with sessions() as session, session.begin():
                return await on_session(session, fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(partial(_in_transaction, engine, fn, *args, **kwargs))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _in_transaction(engine: Engine, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with engine.connect() as connection, connection.begin():
        return fn(connection, *args, **kwargs)


async def on_session(session: AsyncSession, fn: UnitFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a unit on an async session's connection, in its transaction (for callers that already hold a
    session)."""
    return await session.run_sync(lambda sync_session: fn(sync_session.connection(), *args, **kwargs))
