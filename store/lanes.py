"""Connections kept checked out for tool calls on a SQLite file, and the unit of work that runs on one.

A tool call's reads on SQLite take microseconds (see store.sqlite_statements), and what remained of a
read tool's time was mostly SQLAlchemy's ceremony around its transaction: checking a connection out of
the pool, a Connection and a session transaction to begin, committing through both, and checking the
connection back in (with the pool's reset) — about 0.1 ms, four times the list's own queries. Here a
few connections stay checked out between calls; a unit of work borrows one, begins its transaction on
it, and binds a fresh session to it, which joins that transaction: the ORM, core_rows and core_write
all run in the one transaction. The unit commits the connection itself, after flushing the session.

Only SQLite files get lanes: a PostgreSQL connection is pinged as it leaves the pool, so a dropped one
is replaced before a tool call sees it, and a connection kept out of the pool would lose that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

# Idle connections kept per kind of unit (reading, writing). More units than that at once each check
# one out of the pool as before, and give it back to the pool after.
KEPT = 3
# Where core_rows and core_write find a lane unit's connection (asking the session costs a crossing).
LANE_KEY = "csdesk_lane_connection"


class ConnectionLanes:
    """Connections from `bind` (an engine, perhaps with execution options), kept checked out between the
    units of work that borrow them; closed, back into the pool, by close()."""

    def __init__(self, bind: AsyncEngine, *, kept: int = KEPT) -> None:
        self._bind = bind
        self._kept = kept
        self._idle: list[AsyncConnection] = []
        self._closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def borrow(self) -> AsyncConnection:
        return self._idle.pop() if self._idle else await self._bind.connect()

    async def give_back(self, connection: AsyncConnection) -> None:
        """Keep `connection` for the next unit, unless enough are kept, the lanes are closed, or it is not
        clean: still in a transaction (its unit was cut short), invalidated or closed. Those go back to
        the pool, whose reset rolls back whatever is left."""
        sync = connection.sync_connection
        if self._closed or len(self._idle) >= self._kept or sync is None or sync.closed or sync.invalidated \
                or sync.in_transaction():
            await connection.close()
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


@asynccontextmanager
async def lane_transaction(lanes: ConnectionLanes) -> AsyncIterator[AsyncSession]:
    """A session whose work is one transaction on a borrowed connection: committed when the block ends
    (the session flushed first), rolled back if it or the commit raises, even when cancelled, and the
    connection given back either way."""
    connection = await lanes.borrow()
    try:
        # Begun here, not through SQLAlchemy's async bridge: on these connections a BEGIN waits for the
        # transaction's first statement (see store.sqlite_driver), so beginning is bookkeeping, no I/O,
        # and the bridge's crossing cost a tenth of a small list. A connection that would need I/O to
        # begin (an invalidated one, reconnecting) is never kept (see give_back).
        connection.sync_connection.begin()
    except BaseException:
        await lanes.give_back(connection)
        raise
    # "rollback_only": the session never commits the connection's transaction (the unit does, below),
    # and a rollback of the session's, after a failed flush say, rolls it back.
    session = AsyncSession(bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only")
    session.info[LANE_KEY] = connection
    try:
        yield session
        await session.run_sync(_commit, connection.sync_connection)
    except BaseException:
        # Shielded, as the session's own exit is: a cancelled unit still rolls back and gives its
        # connection back before the cancellation goes on.
        await asyncio.shield(asyncio.ensure_future(_abandon(lanes, session, connection)))
        raise
    await lanes.give_back(connection)


def _commit(session: Session, connection: Connection) -> None:
    if session.in_transaction():
        session.commit()  # flushes; the connection's transaction stays open ("rollback_only")
    session.close()
    connection.commit()


async def _abandon(lanes: ConnectionLanes, session: AsyncSession, connection: AsyncConnection) -> None:
    try:
        await session.run_sync(_roll_back, connection.sync_connection)
    finally:
        await lanes.give_back(connection)


def _roll_back(session: Session, connection: Connection) -> None:
    try:
        session.close()
    finally:
        if connection.in_transaction():
            connection.rollback()
