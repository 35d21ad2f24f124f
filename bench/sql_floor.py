"""The floor under a tool: the very SQL statements its service function sends, replayed straight
through the database driver (sqlite3, or asyncpg), without ORM, validation, JSON or transport.

Statements are captured from a real call, then replayed inside a transaction that is rolled back,
so a write costs its full work every time and leaves the data as it was. A write's call is itself
rolled back as it is captured (see bench.latency): captured from a committed call, its version-guarded
UPDATE found no row at the version it had read, and the floor skipped the write.

A write tool commits, and a write is not done until it commits: its floor commits too, with statements
captured afresh before each replay (untimed), so each replay moves the row on from where the last one
left it. Those commits stay in the benchmark's database, as the tool's own calls do. The rolled-back
floor is measured beside it and printed under the table.
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
        # As csdesk's own connections are set (store.database.engine): a commit that synced the log, as SQLite's
        # default does, took longer than the whole tool call.
        self._connection.execute("PRAGMA foreign_keys=ON")
        self._connection.execute("PRAGMA synchronous=NORMAL")

    def run(self, statements: list[Statement], *, commit: bool = False) -> None:
        cursor = self._connection.cursor()
        cursor.execute("BEGIN")
        try:
            for statement in statements:
                if statement.many:
                    cursor.executemany(statement.sql, statement.parameters)
                else:
                    cursor.execute(statement.sql, statement.parameters)
                    cursor.fetchall()
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT" if commit else "ROLLBACK")

    def close(self) -> None:
        self._connection.close()


class PostgresReplay:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, url: str) -> PostgresReplay:
        import asyncpg

        return cls(await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://")))

    async def run(self, statements: list[Statement], *, commit: bool = False) -> None:
        transaction = self._connection.transaction()
        await transaction.start()
        try:
            for statement in statements:
                if statement.many:
                    await self._connection.executemany(statement.sql, statement.parameters)
                else:
                    await self._connection.fetch(statement.sql, *statement.parameters)
        except BaseException:
            await transaction.rollback()
            raise
        await (transaction.commit() if commit else transaction.rollback())

    async def close(self) -> None:
        await self._connection.close()
