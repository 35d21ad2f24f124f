"""store.database.one_hop: a unit of work runs as one transaction — on a SQLite file on a worker thread with
its own connection, elsewhere in an async session — and answers the same either way; a write unit commits
or rolls back as a whole and takes the write lock before it reads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from decimal import Decimal

import pytest
from sqlalchemy import Connection, func, select

from store.crm.account_view import account_360, get_account_360
from store.crm.accounts import AccountFilters, retention_view
from store.crm.renewals import move_renewal, renewals_due
from store.database.engine import is_sqlite_file
from store.database.models import AccountMark, AuditEvent, Renewal, User
from store.database.one_hop import OneHopUnits
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

    counted = await db.app.units.run(where)
    on_file = is_sqlite_file(db.app.engine.url)
    assert db.app.units.on_thread is on_file
    assert (seen[0] != threading.main_thread().name) is on_file
    async with db.read() as session:
        assert counted == await session.scalar(select(func.count()).select_from(User)) > 0


async def test_a_unit_reads_one_snapshot_while_another_connection_commits(db: Db) -> None:
    if not db.app.units.on_thread:
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

    before, after = await db.app.units.run(count_around_a_commit)
    assert after == before, "the unit is one read transaction"
    assert await db.app.units.run(users) == before + 1, "the next unit sees the commit"


async def test_the_account_360_is_the_same_through_either_path(db: Db) -> None:
    account = await make_account(db, name="Either Way Ltd")
    on_thread = await db.app.units.run(account_360, account_id=account.id, now=NOW, full_text=True)
    in_session = OneHopUnits(db.app.engine, db.app.read_sessions, db.app.write_sessions, enabled=False)
    assert not in_session.on_thread
    through_session = await in_session.run(account_360, account_id=account.id, now=NOW, full_text=True)
    async with db.read() as session:
        held = await get_account_360(session, account_id=account.id, now=NOW, full_text=True)
    assert on_thread == through_session == held
    assert on_thread.account.name == "Either Way Ltd"


async def test_a_store_error_in_a_unit_reaches_the_caller(db: Db) -> None:
    with pytest.raises(NotFound, match="no account with id 999999"):
        await db.app.units.run(account_360, account_id=999_999, now=NOW)


async def test_the_lists_are_the_same_through_either_path(db: Db) -> None:
    for name in ("First Ltd", "Second Ltd", "Third Ltd"):
        await make_account(db, name=name)
    ana = db.principals["ana"]
    in_session = OneHopUnits(db.app.engine, db.app.read_sessions, db.app.write_sessions, enabled=False)
    questions = [
        lambda db: retention_view(db, principal=ana, filters=AccountFilters(owner="me", sort="name"), today=NOW.date(),
                                  limit=2),
        lambda db: renewals_due(db, principal=ana, today=NOW.date(), owner="me", within_days=365),
    ]
    for question in questions:
        assert await db.app.units.run(question) == await in_session.run(question)
    page = await db.app.units.run(questions[0])
    assert [row.name for row in page.items] == ["First Ltd", "Second Ltd"] and page.total == 3 and page.next_cursor


def add_user(connection: Connection, email: str) -> None:
    connection.execute(User.__table__.insert(), {"email": email, "name": "Unit", "role": "csm", "active": True,
                                                 "created_at": NOW})


async def test_a_write_unit_commits_when_it_returns_and_leaves_nothing_when_it_raises(db: Db) -> None:
    before = await db.app.units.run(users)
    await db.app.units.write(add_user, "kept@example.com")
    assert await db.app.units.run(users) == before + 1

    def add_then_fail(connection: Connection) -> None:
        add_user(connection, "dropped@example.com")
        raise NotFound("the unit stops here")

    with pytest.raises(NotFound, match="the unit stops here"):
        await db.app.units.write(add_then_fail)
    assert await db.app.units.run(users) == before + 1, "the failed unit's row was rolled back"
    async with db.read() as session:
        emails = set(await session.scalars(select(User.email)))
    assert "kept@example.com" in emails and "dropped@example.com" not in emails


async def test_a_write_unit_takes_the_write_lock_before_it_reads(db: Db) -> None:
    """BEGIN IMMEDIATE, as every async write session begins: while another connection holds the write lock,
    the unit waits for it (and then reads what that writer committed) instead of reading first and failing
    when it writes."""
    if not db.app.units.on_thread:
        pytest.skip("the worker-thread path is SQLite's; PostgreSQL's units run in an async write session")
    path = db.app.engine.url.database
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO users (email, name, role, active, created_at) "
                  "VALUES ('first@example.com', 'First', 'csm', 1, '2026-11-23 12:00:00')")
    before = await db.app.units.run(users)

    def count_then_add(connection: Connection) -> int:
        seen = users(connection)
        add_user(connection, "second@example.com")
        return seen

    unit = asyncio.create_task(db.app.units.write(count_then_add))
    await asyncio.sleep(0.3)
    assert not unit.done(), "the unit waits for the other writer's lock"
    other.execute("COMMIT")
    other.close()
    assert await unit == before + 1, "the unit began after the other writer's commit and saw its row"
    assert await db.app.units.run(users) == before + 2


async def test_a_renewal_move_is_the_same_through_either_path(db: Db) -> None:
    first, second = await make_account(db, name="Moved Once Ltd"), await make_account(db, name="Moved Twice Ltd")
    in_session = OneHopUnits(db.app.engine, db.app.read_sessions, db.app.write_sessions, enabled=False)
    ana = db.principals["ana"]
    moved = []
    for units, account in ((db.app.units, first), (in_session, second)):
        async with db.read() as session:
            renewal_id = await session.scalar(select(Renewal.id).where(Renewal.account_id == account.id))
        moved.append(await units.write(move_renewal, principal=ana, now=NOW, renewal_id=renewal_id,
                                       expected_version=1, stage="proposal_sent", forecast_amount="99000"))
    for account, answer in zip((first, second), moved, strict=True):
        assert (answer.stage, answer.forecast_amount, answer.version) == ("proposal_sent", Decimal("99000.00"), 2)
        async with db.read() as session:
            stored = await session.get(Renewal, answer.id)
            audited = (await session.scalars(select(AuditEvent).where(AuditEvent.entity == "renewal",
                                                                      AuditEvent.entity_id == answer.id,
                                                                      AuditEvent.action == "renewal.update"))).all()
            marked = await session.get(AccountMark, account.id)
        assert stored is not None and (stored.stage, stored.forecast_amount, stored.version) == \
            ("proposal_sent", Decimal("99000.00"), 2)
        assert len(audited) == 1 and audited[0].after["stage"] == "proposal_sent"
        assert marked is not None and marked.reason == "renewal.update"
