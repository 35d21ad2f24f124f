"""Which database the tests run on, and, when the suite runs on PostgreSQL, one empty database per
SQLite file path a test names (so tests that give each `csdesk` process "a new file" get a new
database instead)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import text

from server.settings import Settings
from store.database.engine import create_engine, sqlite_url

POSTGRES_URL = os.environ.get("CSDESK_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("CSDESK_TEST_REQUIRE_POSTGRES") == "1"
# The database the single-backend suites (tools, server, agents) run on; the store suite runs on both.
MAIN_BACKEND = os.environ.get("CSDESK_TEST_BACKEND", "sqlite")

_databases_by_path: dict[Path, str] = {}
_lock = threading.Lock()


def check_configuration() -> str | None:
    """What is wrong with the test database settings, or None."""
    if MAIN_BACKEND not in {"sqlite", "postgres"}:
        return f"CSDESK_TEST_BACKEND is {MAIN_BACKEND!r}; use sqlite (the default) or postgres"
    if MAIN_BACKEND == "postgres" and not POSTGRES_URL:
        return "CSDESK_TEST_BACKEND=postgres needs CSDESK_TEST_POSTGRES_URL"
    return None


def run_blocking(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run `coroutine` to completion on a loop of its own, also from inside a running test's loop."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def execute_admin(statement: str) -> None:
    """Run `statement` (CREATE or DROP DATABASE) outside a transaction on the configured server."""
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


def database_url_for(path: Path) -> str:
    """An empty PostgreSQL database standing for the SQLite file `path`: created on first use, the same
    one for later uses of the path, dropped by `drop_databases` at the end of the session."""
    assert POSTGRES_URL, "database_url_for needs CSDESK_TEST_POSTGRES_URL"
    path = Path(path).resolve()
    with _lock:
        name = _databases_by_path.get(path)
        if name is None:
            name = "csdesk_file_" + hashlib.sha1(str(path).encode()).hexdigest()[:16]
            run_blocking(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            run_blocking(execute_admin(f'CREATE DATABASE "{name}"'))
            _databases_by_path[path] = name
    return url_of(name)


def url_of(name: str) -> str:
    """The URL of database `name` on the configured PostgreSQL server."""
    assert POSTGRES_URL
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_databases() -> None:
    with _lock:
        names = list(_databases_by_path.values())
        _databases_by_path.clear()
    for name in names:
        run_blocking(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def settings_for_file(path: Path, **values: Any) -> Settings:
    """Settings for the database a test calls `path`: that SQLite file, or its PostgreSQL stand-in."""
    if MAIN_BACKEND == "postgres":
        return Settings(database_url=database_url_for(path), **values)
    return Settings(db_path=path, **values)


def url_for_file(path: Path) -> str:
    """The database URL for what a test calls `path`: that SQLite file, or its PostgreSQL stand-in."""
    return database_url_for(path) if MAIN_BACKEND == "postgres" else sqlite_url(str(path))


def database_env(path: Path) -> dict[str, str]:
    """The environment a `csdesk` process needs for the database a test calls `path`."""
    if MAIN_BACKEND == "postgres":
        return {"CSDESK_DATABASE_URL": database_url_for(path)}
    return {"CSDESK_DB_PATH": str(path)}


def fetch_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows `sql` returns on the database a test calls `path`, read outside any `csdesk` process."""
    if MAIN_BACKEND == "sqlite":
        with sqlite3.connect(path) as connection:
            return connection.execute(sql).fetchall()

    async def fetch() -> list[tuple[Any, ...]]:
        engine = create_engine(database_url_for(path))
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(text(sql))]
        finally:
            await engine.dispose()

    return run_blocking(fetch())
