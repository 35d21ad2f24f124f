"""store.database.one_hop: a read unit runs as one transaction — on a SQLite file on a worker thread with
its own connection, elsewhere in an async session — and answers the same either way."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import Connection, func, select

from store.crm.account_view import account_360, get_account_360
from store.crm.accounts import AccountFilters, retention_view
from store.crm.renewals import renewals_due
from store.database.engine import is_sqlite_file
from store.database.models import User
from store.database.one_hop import OneHopReads
from store.errors import NotFound
from tests.conftest import NOW, Db
from tests.factories import make_account


def users(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(User)).scalar_one()


async def test_a_unit_runs_on_a_worker_thread_on_a_sqlite_file_and_in_a_session_elsewhere(db: Db) -> None:
    seen: list[str] = []

    def where(connection: Connection) -> int:
        seen.append(threading.current_thread().name)
        return users(connection)

    counted = await db.app.reads.run(where)
    on_file = is_sqlite_file(db.app.engine.url)
    assert db.app.reads.on_thread is on_file
    assert (seen[0] != threading.main_thread().name) is on_file
    async with db.read() as session:
        assert counted == await session.scalar(select(func.count()).select_from(User)) > 0


async def test_a_unit_reads_one_snapshot_while_another_connection_commits(db: Db) -> None:
    if not db.app.reads.on_thread:
        pytest.skip("the worker-thread path is SQLite's; PostgreSQL reads at READ COMMITTED in a session")
    path = db.app.engine.url.database

    def count_around_a_commit(connection: Connection) -> tuple[int, int]:
        before = users(connection)
        other = sqlite3.connect(path)
        with other:
            other.execute("INSERT INTO users (email, name, role, active, created_at) "
                          "VALUES ('late@example.com', 'Late', 'csm', 1, '2026-11-23 12:00:00')")
        other.close()
        return before, users(connection)

    before, after = await db.app.reads.run(count_around_a_commit)
    assert after == before, "the unit is one read transaction"
    assert await db.app.reads.run(users) == before + 1, "the next unit sees the commit"


async def test_the_account_360_is_the_same_through_either_path(db: Db) -> None:
    account = await make_account(db, name="Either Way Ltd")
    on_thread = await db.app.reads.run(account_360, account_id=account.id, now=NOW, full_text=True)
    in_session = OneHopReads(db.app.engine, db.app.read_sessions, enabled=False)
    assert not in_session.on_thread
    through_session = await in_session.run(account_360, account_id=account.id, now=NOW, full_text=True)
    async with db.read() as session:
        held = await get_account_360(session, account_id=account.id, now=NOW, full_text=True)
    assert on_thread == through_session == held
    assert on_thread.account.name == "Either Way Ltd"


async def test_a_store_error_in_a_unit_reaches_the_caller(db: Db) -> None:
    with pytest.raises(NotFound, match="no account with id 999999"):
        await db.app.reads.run(account_360, account_id=999_999, now=NOW)


async def test_the_lists_are_the_same_through_either_path(db: Db) -> None:
    for name in ("First Ltd", "Second Ltd", "Third Ltd"):
        await make_account(db, name=name)
    ana = db.principals["ana"]
    in_session = OneHopReads(db.app.engine, db.app.read_sessions, enabled=False)
    questions = [
        lambda db: retention_view(db, principal=ana, filters=AccountFilters(owner="me", sort="name"), today=NOW.date(),
                                  limit=2),
        lambda db: renewals_due(db, principal=ana, today=NOW.date(), owner="me", within_days=365),
    ]
    for question in questions:
        assert await db.app.reads.run(question) == await in_session.run(question)
    page = await db.app.reads.run(questions[0])
    assert [row.name for row in page.items] == ["First Ltd", "Second Ltd"] and page.total == 3 and page.next_cursor
