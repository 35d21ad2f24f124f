"""Indexed lookups run straight through the SQLite driver answer exactly as SQLAlchemy's own execution
does — the same column names, the same converted values (dates, money, aware times, JSON) — for every
statement marked as one, and keep the transaction's snapshot and error reporting."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import OperationalError

import store.account_view  # noqa: F401  # defines the 360's lookups
import store.assessments  # noqa: F401
import store.users  # noqa: F401
from agents.cycle import run_cycle
from server.settings import Settings
from store.db import INDEXED_LOOKUPS, core_rows, indexed_lookup
from store.demo_portfolio import seed_demo_portfolio
from store.models import Account, Assessment
from store.sqlite_lookup import driver_of, run_lookup
from tests.conftest import NOW, TODAY, Db, _open_db


@pytest.fixture
async def assessed(sqlite_settings: Settings) -> AsyncIterator[Db]:
    """A seeded demo portfolio on a SQLite file, assessed twice."""
    async for db in _open_db(sqlite_settings):
        async with db.write() as session:
            await seed_demo_portfolio(session, today=TODAY, accounts=12)
        await run_cycle(db.app.agent_deps())
        await run_cycle(db.app.agent_deps(), force=True)
        yield db


def _parameters(statement: object, account_id: int) -> dict[str, object]:
    values = {"account_id": account_id, "email": "ana.garcia@example.com", "points": 8,
              "closed_since": NOW - timedelta(days=400)}
    names = {parameter.key for parameter in statement.compile().binds.values()}  # type: ignore[attr-defined]
    return {name: value for name, value in values.items() if name in names}


async def test_every_indexed_lookup_reads_as_sqlalchemy_reads_it(assessed: Db) -> None:
    assert len(INDEXED_LOOKUPS) >= 13
    async with assessed.read() as session:
        account_ids = list(await session.scalars(select(Account.id).order_by(Account.id)))
        connection = await session.connection()
        driver = driver_of(connection)
        assert driver is not None
        compared = 0
        for statement in INDEXED_LOOKUPS:
            for account_id in account_ids:
                parameters = _parameters(statement, account_id)
                keys, rows = await run_lookup(connection, driver, statement, parameters)
                expected = await connection.execute(statement, parameters)
                assert keys == tuple(expected.keys())
                expected_rows = [tuple(row) for row in expected]
                assert rows == expected_rows
                assert [[type(value) for value in row] for row in rows] == \
                       [[type(value) for value in row] for row in expected_rows]
                compared += len(rows)
    assert compared > 100  # the statements found rows to compare, not only empty answers


async def test_a_lookup_reads_the_transactions_snapshot_and_reports_errors_as_sqlalchemy_does(
        assessed: Db, sqlite_settings: Settings) -> None:
    count = indexed_lookup(select(func.count()).select_from(Assessment)
                           .where(Assessment.account_id == bindparam("account_id")))
    other = sqlite3.connect(Path(sqlite_settings.db_path), isolation_level=None)
    try:
        async with assessed.read() as session:
            before = (await core_rows(session, count, {"account_id": 1})).one()[0]
            other.execute("DELETE FROM assessments WHERE account_id = 1")  # committed by another connection
            assert (await core_rows(session, count, {"account_id": 1})).one()[0] == before > 0
        async with assessed.read() as session:
            assert (await core_rows(session, count, {"account_id": 1})).one()[0] == 0
            broken = indexed_lookup(select(text("no_such_column")).select_from(Assessment))
            with pytest.raises(OperationalError, match="no such column"):
                await core_rows(session, broken, {})
    finally:
        other.close()
