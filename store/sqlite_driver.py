"""aiosqlite connections that cost one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy makes four such calls per
statement (open a cursor, execute, fetch the rows, close the cursor). Each hop costs tens of
microseconds of queueing and wake-up: more than an indexed read itself, and it added up to most of a
small tool's time (13 hops for a list, 57 for the account 360). Here a statement's execute and fetch
run as one call on that thread, and opening or closing a cursor needs none. Results are read whole,
as SQLAlchemy's aiosqlite adapter already does for every statement that is not streamed.
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

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        def run(connection: sqlite3.Connection) -> tuple[Any, list[Row], int, int | None]:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, () if parameters is None else parameters)
                description = cursor.description
                rows = cursor.fetchall() if description else []
                # Read after the rows: a statement with RETURNING counts its rows as they are stepped.
                return description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.description, rows, self.rowcount, self.lastrowid = await self._connection.on_thread(run)
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        def run(connection: sqlite3.Connection) -> tuple[int, int | None]:
            cursor = connection.cursor()
            try:
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

    def cursor(self) -> OneHopCursor:  # type: ignore[override]  # aiosqlite's is awaited; ours is ready
        return OneHopCursor(self)

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
