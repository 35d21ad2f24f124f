"""Engines and sessions: SQLite (WAL, busy timeout, foreign keys) by default, any async URL otherwise.

Every statement goes through SQLAlchemy's async engine and sessions, on aiosqlite or asyncpg through their
public APIs: aiosqlite runs each SQLite call on its connection's own thread, never on the event loop's."""

from __future__ import annotations

import collections
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    CursorResult,
    Delete,
    Engine,
    Executable,
    Insert,
    Update,
    event,
    literal,
    make_url,
    text,
)
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000
# The execution options of a connection whose transactions write (see tune_sqlite's on_begin).
WRITE_OPTIONS = {"csdesk_write": True}


def sqlite_url(path: str) -> str:
    """The async SQLAlchemy URL for a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`, tuned for concurrent readers and one writer on SQLite."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql+asyncpg":
        # No JIT: csdesk's statements are index lookups and per-account aggregates, and compiling them
        # cost more than it saved on every one measured (portfolio_summary at 100,000 accounts spent
        # 360 ms of 1.6 s compiling).
        engine = create_async_engine(url, echo=echo, pool_pre_ping=True,
                                     connect_args={"server_settings": {"jit": "off"}})
    else:
        engine = create_async_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        tune_sqlite(engine.sync_engine)
    return engine


def is_sqlite_file(url: URL) -> bool:
    """A SQLite database in a file (not in memory)."""
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and not url.query


def tune_sqlite(engine: Engine) -> None:
    """Set every new connection of a SQLite engine (async or sync) the same way."""
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):  # noqa: ANN001
        # A write transaction takes the write lock up front: a deferred one that reads first
        # and writes later fails at once with SQLITE_BUSY instead of waiting its turn.
        mode = "IMMEDIATE" if connection.get_execution_options().get("csdesk_write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")


def session_factory(engine: AsyncEngine, *, write: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; `write=True` ones begin their transaction ready to write."""
    bind = engine.execution_options(**WRITE_OPTIONS) if write else engine
    return async_sessionmaker(bind, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work is one transaction: committed when the block ends, rolled back if it raises,
    and closed either way."""
    async with sessions() as session, session.begin():
        yield session


async def refresh_statistics(sessions: async_sessionmaker[AsyncSession], tables: tuple[str, ...] = ()) -> bool:
    """Give PostgreSQL's planner fresh statistics now (these tables, or all), after writes that change
    much of the data at once — a bulk load, an agent cycle that sets every account's health — rather than
    whenever autovacuum gets to them, if it runs at all; False elsewhere (SQLite plans from its schema
    alone here). With stale ones it read the retention view at 100,000 accounts by scanning 18,000
    index entries (9 ms) instead of using the (owner, health, renewal) index (0.2 ms)."""
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name != "postgresql":
            return False
        for statement in [f'ANALYZE "{table}"' for table in tables] or ["ANALYZE"]:
            await session.execute(text(statement))
    return True


class Rows(list[Any]):
    """A statement's rows, read by column name (`row.name`) or position, with Result's first() and one()."""

    def first(self) -> Any:
        return self[0] if self else None

    def one(self) -> Any:
        if len(self) != 1:
            raise (NoResultFound if not self else MultipleResultsFound)(f"expected one row, got {len(self)}")
        return self[0]


@functools.lru_cache(maxsize=512)
def _row_type(keys: tuple[str, ...]) -> Any:
    # Plain named tuples: callers copy a row with a change (`_replace`) and read columns by name.
    return collections.namedtuple("Row", keys, rename=True)


async def core_rows(session: AsyncSession, statement: Executable, parameters: dict[str, Any]) -> Rows:
    """Run a statement that reads plain columns on the session's connection, in its transaction, without
    the ORM's result handling (meant for entities; for column rows it cost more than the indexed query),
    and return its rows. Nothing pending in the session is flushed first: for reads, and writes made
    before are not seen until flushed."""
    connection = await session.connection()
    return _rows_of(await connection.execute(statement, parameters))


def rows(connection: Connection, statement: Executable, parameters: dict[str, Any]) -> Rows:
    """What core_rows reads, on a synchronous connection (a read unit's; see store.database.one_hop)."""
    return _rows_of(connection.execute(statement, parameters))


def in_fixed(column: ColumnElement[Any], values: tuple[Any, ...]) -> ColumnElement[bool]:
    """`column IN (…)` for a fixed list built into a statement made once, one bound parameter a value. A list
    given as values makes an expanding parameter (SQLAlchemy's default), whose statement text is re-rendered
    on every execution: measured, 12 µs a list on a one-account statement (31 µs against 19)."""
    return column.in_([literal(value, column.type) for value in values])


def _rows_of(result: CursorResult[Any]) -> Rows:
    make = _row_type(tuple(result.keys()))._make
    return Rows(make(row) for row in result)


async def core_write(session: AsyncSession, statement: Insert | Update | Delete, parameters: dict[str, Any]) -> int:
    """Run a Core INSERT of one row, or an UPDATE or DELETE of at most one row found by its key, in the
    session's transaction, without the ORM's execution (its bulk-statement paths cost more than a one-row
    write), and return the rows it changed. An UPDATE without values() sets the columns `parameters`
    names beside its WHERE clause's own values. Nothing pending in the session is flushed first, and
    objects the session holds are not refreshed."""
    connection = await session.connection()
    return (await connection.execute(statement, parameters)).rowcount
