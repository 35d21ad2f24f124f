"""aiosqlite connections that cost one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy makes four such calls per
statement (open a cursor, execute, fetch the rows, close the cursor). Each hop costs tens of
microseconds of queueing and wake-up: more than an indexed read itself, and it added up to most of a
small tool's time (13 hops for a list, 57 for the account 360). Here a statement's execute and fetch
run as one call on that thread, and opening or closing a cursor needs none. Results are read whole,
as SQLAlchemy's aiosqlite adapter already does for every statement that is not streamed.

A transaction's BEGIN rides along with its first statement (nothing can happen in between on this
connection, so it means the same), and the pool's rollback of a connection that is not in a
transaction, which SQLite would ignore, is not sent at all: a read-only tool call went from five
hops to three.

A statement marked as an indexed lookup (see `store.db.indexed_lookup`: a unique key, one account's
rows) runs on the calling thread, without a hop: it reads a few index entries, which takes less time
than handing it to the connection's thread and being woken with the answer. So does the commit or
rollback of a transaction that changed nothing, which only lets go of its read snapshot. A lookup
that would first have to wait for the write lock (it starts a write transaction) still takes the hop,
so the caller's event loop never waits on another writer.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

Row = tuple[Any, ...]


class OneHopCursor:
    """The cursor API SQLAlchemy's aiosqlite adapter uses; each execute is one call on the thread."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: deque[Row] = deque()
        self.description: Sequence[Any] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None, *, inline: bool = False) -> OneHopCursor:
        """Run `sql` on the connection's thread, or with `inline` (an indexed lookup, see
        store.sqlite_reads) on the calling thread, unless it must first wait for the write lock."""
        if not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            self._connection.defer_begin(sql)
            self.description, self._rows, self.rowcount, self.lastrowid = None, deque(), -1, None
            return self
        inline = inline and not self._connection.begins_writing()
        begin = self._connection.take_begin()

        def run(connection: sqlite3.Connection) -> tuple[Any, list[Row], int, int | None]:
            cursor = connection.cursor()
            try:
                if begin:
                    cursor.execute(begin)
                cursor.execute(sql, () if parameters is None else parameters)
                description = cursor.description
                rows = cursor.fetchall() if description else []
                # Read after the rows: a statement with RETURNING counts its rows as they are stepped.
                return description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        if inline:
            self.description, rows, self.rowcount, self.lastrowid = run(self._connection.sqlite_connection)
        else:
            self.description, rows, self.rowcount, self.lastrowid = await self._connection.on_thread(run)
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        begin = self._connection.take_begin()

        def run(connection: sqlite3.Connection) -> tuple[int, int | None]:
            cursor = connection.cursor()
            try:
                if begin:
                    cursor.execute(begin)
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.rowcount, self.lastrowid = await self._connection.on_thread(run)
        self.description, self._rows = None, deque()
        return self

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Row]:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors need no hop to open or close."""

    _pending_begin: str | None = None
    # SQLite's count of rows changed on this connection when the current transaction began.
    _changes_at_begin = 0

    def cursor(self) -> OneHopCursor:  # type: ignore[override]  # aiosqlite's is awaited; ours is ready
        return OneHopCursor(self)

    def defer_begin(self, sql: str) -> None:
        """Hold a BEGIN until the transaction's first statement, which sends it."""
        if self._pending_begin is not None or self._may_be_in_transaction():
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        self._pending_begin = sql

    def take_begin(self) -> str | None:
        begin, self._pending_begin = self._pending_begin, None
        if begin is not None and self._connection is not None:
            # Read between calls: nothing runs on the connection's thread now.
            self._changes_at_begin = self.sqlite_connection.total_changes
        return begin

    def begins_writing(self) -> bool:
        """Whether the next statement first begins a write transaction, and may wait for the write lock."""
        return (self._pending_begin or "").upper().startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"))

    async def commit(self) -> None:
        # A transaction that never ran a statement never began: there is nothing to commit.
        if self.take_begin() is None and self._may_be_in_transaction():
            if self._changed_nothing():
                self.sqlite_connection.commit()
            else:
                await super().commit()

    async def rollback(self) -> None:
        # Outside a transaction SQLite has nothing to roll back; the pool asks anyway on every return.
        if self.take_begin() is None and self._may_be_in_transaction():
            if self._changed_nothing():
                self.sqlite_connection.rollback()
            else:
                await super().rollback()

    def _changed_nothing(self) -> bool:
        # Ending a transaction that wrote nothing only releases its read snapshot: it never waits or writes.
        return self._connection is not None and self._connection.total_changes == self._changes_at_begin

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection, for use between calls on the connection's thread (never during one)."""
        return self._conn

    def _may_be_in_transaction(self) -> bool:
        # Read between calls, never during one: SQLAlchemy awaits each call before it makes the next.
        # A closed connection says yes, so that aiosqlite reports the closed connection as it does.
        return self._connection is None or self._connection.in_transaction

    async def on_thread(self, function: Any) -> Any:
        """Run `function(sqlite3_connection)` on the connection's thread, as one hop."""
        return await self._execute(lambda: function(self._conn))


def one_hop_connect(path: str) -> OneHopConnection:
    """An unopened connection to the SQLite file `path` (SQLAlchemy awaits it), as `aiosqlite.connect`
    makes one, with the same arguments SQLAlchemy's aiosqlite dialect passes."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    connection = OneHopConnection(connector, iter_chunk_size=64)
    # As SQLAlchemy does for aiosqlite: a forgotten connection must not keep the process alive.
    connection._thread.daemon = True
    return connection
