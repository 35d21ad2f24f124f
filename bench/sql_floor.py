"""The floor under a tool: the very SQL statements its service function sends, replayed straight
through the database driver (sqlite3, or asyncpg), without ORM, validation, JSON or transport.

Statements are captured from a real call, then replayed inside a transaction that is rolled back,
so a write costs its full work every time and leaves the data as it was. A write's call is itself
rolled back as it is captured (see bench.latency): captured from a committed call, its version-guarded
UPDATE found no row at the version it had read, and the floor skipped the write. The floor never
commits; a write tool does, and pays for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from server.context import AppContext

SKIPPED_PREFIXES = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any
    many: bool


async def capture(app: AppContext, call: Callable[[], Awaitable[object]]) -> list[Statement]:
    captured: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, many: bool) -> None:
        if not sql.lstrip().upper().startswith(SKIPPED_PREFIXES):
            captured.append(Statement(sql, parameters, many))

    engine = app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return captured


class SqliteReplay:
    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA foreign_keys=ON")

    def run(self, statements: list[Statement]) -> None:
        cursor = self._connection.cursor()
        cursor.execute("BEGIN")
        try:
            for statement in statements:
                if statement.many:
                    cursor.executemany(statement.sql, statement.parameters)
                else:
                    cursor.execute(statement.sql, statement.parameters)
                    cursor.fetchall()
        finally:
            cursor.execute("ROLLBACK")

    def close(self) -> None:
        self._connection.close()


class PostgresReplay:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, url: str) -> PostgresReplay:
        import asyncpg

        return cls(await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://")))

    async def run(self, statements: list[Statement]) -> None:
        transaction = self._connection.transaction()
        await transaction.start()
        try:
            for statement in statements:
                if statement.many:
                    await self._connection.executemany(statement.sql, statement.parameters)
                else:
                    await self._connection.fetch(statement.sql, *statement.parameters)
        finally:
            await transaction.rollback()

    async def close(self) -> None:
        await self._connection.close()
