"""Engines and sessions: SQLite (WAL, busy timeout, foreign keys) by default, any async URL otherwise."""

from __future__ import annotations

import collections
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import URL, Delete, Executable, Insert, Select, Update, event, make_url, text
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from store.lanes import LANE_KEY, ConnectionLanes, lane_transaction
from store.sqlite_driver import OneHopConnection, one_hop_connect
from store.sqlite_statements import driver_of, read_on_driver, write_on_driver

SQLITE_BUSY_TIMEOUT_MS = 5000
# Where core_rows keeps the connection of a session's current transaction.
_CONNECTION_KEY = "csdesk_transaction_connection"


def sqlite_url(path: str) -> str:
    """The async SQLAlchemy URL for a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`, tuned for concurrent readers and one writer on SQLite."""
    parsed = make_url(url)
    if _is_sqlite_file(parsed):
        # One thread hop per statement instead of four (see store.sqlite_driver).
        engine = create_async_engine(url, echo=echo, async_creator=partial(one_hop_connect, parsed.database))
    elif parsed.drivername == "postgresql+asyncpg":
        # No JIT: csdesk's statements are index lookups and per-account aggregates, and compiling them
        # cost more than it saved on every one measured (portfolio_summary at 100,000 accounts spent
        # 360 ms of 1.6 s compiling).
        engine = create_async_engine(url, echo=echo, pool_pre_ping=True,
                                     connect_args={"server_settings": {"jit": "off"}})
    else:
        engine = create_async_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _is_sqlite_file(url: URL) -> bool:
    return url.drivername == "sqlite+aiosqlite" and bool(url.database) and url.database != ":memory:" \
        and not url.query


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection):  # noqa: ANN001
        # A write transaction takes the write lock up front: a deferred one that reads first
        # and writes later fails at once with SQLITE_BUSY instead of waiting its turn.
        mode = "IMMEDIATE" if connection.get_execution_options().get("csdesk_write") else "DEFERRED"
        driver = connection.connection.driver_connection
        if isinstance(driver, OneHopConnection):
            driver.defer_begin(f"BEGIN {mode}")  # what sending it would do, without a statement's round
        else:
            connection.exec_driver_sql(f"BEGIN {mode}")


class SessionMaker(async_sessionmaker[AsyncSession]):
    """Sessions on an engine, and, on a SQLite file, the connections `transaction` runs its units on."""

    lanes: ConnectionLanes | None = None


def session_factory(engine: AsyncEngine, *, write: bool = False) -> SessionMaker:
    """Sessions on `engine`; `write=True` ones begin their transaction ready to write. Close them with
    close_sessions before disposing of the engine."""
    bind = engine.execution_options(csdesk_write=True) if write else engine
    sessions = SessionMaker(bind, expire_on_commit=False)
    if _is_sqlite_file(engine.url):
        sessions.lanes = ConnectionLanes(bind)
    return sessions


async def close_sessions(*makers: SessionMaker) -> None:
    """Give back the connections the makers' units of work keep (see store.lanes)."""
    for sessions in makers:
        if sessions.lanes is not None:
            await sessions.lanes.close()


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work is one transaction: committed when the block ends, rolled back if it raises,
    and closed either way; what `async with sessions() as session, session.begin():` does.

    That form crosses SQLAlchemy's async bridge three times (begin, commit, close) and starts a task to
    close the session; a tool call's whole read costs about as much as one crossing. Here the
    transaction begins with the session's first statement, as SQLAlchemy begins it anyway, and the
    commit and the close share one crossing (a failed commit still closes the session). An exception in
    the block leaves through the session's own exit. On a SQLite file the unit runs on a connection kept
    checked out for such units (see store.lanes)."""
    lanes = getattr(sessions, "lanes", None)
    if lanes is not None:
        async with lane_transaction(lanes) as session:
            yield session
        return
    session = sessions()
    try:
        yield session
    except BaseException:
        async with session:  # the session's own exit: rolls back and closes, even if cancelled meanwhile
            raise
    await session.run_sync(_commit_and_close)


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


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
    # A named tuple reads a column by name as fast as by position; SQLAlchemy's Row looks each name up in
    # Python, which for a 25-row page of fourteen columns cost more than the query.
    return collections.namedtuple("Row", keys, rename=True)


async def core_rows(session: AsyncSession, statement: Executable, parameters: dict[str, Any], *,
                    bulk: bool = False) -> Rows:
    """Run a statement that reads plain columns on the session's connection, in its transaction, without
    the ORM's result handling (meant for entities; for column rows it cost more than the indexed query),
    and return its rows. On a SQLite file it runs straight through the driver (see store.sqlite_statements).
    Nothing pending in the session is flushed first: for reads, and writes made before are not seen
    until flushed. A `bulk` read (a batch of accounts' rows) goes straight to the connection's thread there,
    without first trying on the event loop's, where it would not fit (see store.sqlite_driver)."""
    connection = await _transaction_connection(session)
    driver = driver_of(connection) if isinstance(statement, Select) else None
    if driver is not None:
        keys, rows = await read_on_driver(connection, driver, statement, parameters, bulk=bulk)
    else:
        result = await connection.execute(statement, parameters)
        keys, rows = tuple(result.keys()), result
    make = _row_type(keys)._make
    return Rows(make(row) for row in rows)


async def core_write(session: AsyncSession, statement: Insert | Update | Delete, parameters: dict[str, Any]) -> int:
    """Run a Core INSERT of one row, or an UPDATE or DELETE of at most one row found by its key, in the
    session's transaction, without the ORM's execution (its bulk-statement paths cost more than a one-row
    write), and return the rows it changed. An UPDATE without values() sets the columns `parameters`
    names beside its WHERE clause's own values. On a SQLite file it runs straight through the driver,
    which counts on the one row (see store.sqlite_statements). Nothing pending in the session is flushed
    first, and objects the session holds are not refreshed."""
    connection = await _transaction_connection(session)
    driver = driver_of(connection)
    if driver is not None and (changed := await write_on_driver(connection, driver, statement, parameters)) is not None:
        return changed
    return (await connection.execute(statement, parameters)).rowcount


async def _transaction_connection(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's current transaction, asked of the session once per transaction
    (each ask is a trip through SQLAlchemy's async bridge)."""
    lane = session.info.get(LANE_KEY)
    if lane is not None:
        return lane
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION_KEY)
    if transaction is not None and cached is not None and cached[0] is transaction and transaction.is_active:
        return cached[1]
    connection = await session.connection()
    session.info[_CONNECTION_KEY] = (session.sync_session.get_transaction(), connection)
    return connection
