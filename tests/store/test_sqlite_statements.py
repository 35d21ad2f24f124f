"""Reads run straight through the SQLite driver answer exactly as SQLAlchemy's own execution does: every
statement built once for core_rows gives the same column names and the same converted values (dates, money, aware times,
JSON); every list shape and every account's 360 give the same answers; a read keeps its transaction's
snapshot and reports errors as SQLAlchemy does. One-row writes run through it store what SQLAlchemy's
execution stores, and those it cannot run alone (RETURNING, a default computed in Python) go to SQLAlchemy."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Select, String, Table, bindparam, func, insert, select, text
from sqlalchemy.exc import InvalidRequestError, OperationalError

import agents.assessment
import store.account_view
import store.assessments
import store.db
import store.signal_facts
import store.tasks
import store.users
from agents.cycle import run_cycle
from server.settings import Settings
from store.account_view import TICKETS, get_account_360
from store.accounts import ACCOUNT_SORTS, AccountFilters, list_accounts
from store.audit import AUDIT_INSERT
from store.db import core_rows, core_write
from store.demo_portfolio import seed_demo_portfolio
from store.models import Account, Assessment, AuditEvent, Renewal, SupportTicket
from store.renewals import MOVE_RENEWAL, RENEWAL_SORTS, list_renewals
from store.sqlite_statements import SHAPES_KEPT, driver_of, plan_for, read_on_driver, write_plan_for
from store.vocabulary import HEALTH_STATUSES
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
              "closed_since": NOW - timedelta(days=400), "ids": [account_id, account_id + 1, account_id + 5],
              "as_of": NOW, "window_start": NOW - timedelta(days=30), "usage_to": TODAY,
              "usage_from": TODAY - timedelta(days=200), "survey_from": NOW - timedelta(days=365)}
    names = {parameter.key for parameter in statement.compile().binds.values()}  # type: ignore[attr-defined]
    return {name: value for name, value in values.items() if name in names}


def _statements_built_once() -> list[Select[object]]:
    """The statements built at import and read through core_rows: the 360's sections, an account's
    assessments, the caller lookup, and what the agent reads of a chunk of accounts."""
    modules = (store.account_view, store.assessments, store.users, store.signal_facts, store.tasks,
               agents.assessment)
    values = [value for module in modules for value in vars(module).values()]
    return [statement for value in values for statement in (value if isinstance(value, tuple) else (value,))
            if isinstance(statement, Select)]


async def test_every_statement_built_once_reads_as_sqlalchemy_reads_it(assessed: Db) -> None:
    statements = _statements_built_once()
    assert len(statements) >= 29
    async with assessed.read() as session:
        account_ids = list(await session.scalars(select(Account.id).order_by(Account.id)))
        connection = await session.connection()
        driver = driver_of(connection)
        assert driver is not None
        compared = 0
        for statement in statements:
            for account_id in account_ids:
                parameters = _parameters(statement, account_id)
                keys, rows = await read_on_driver(connection, driver, statement, parameters)
                assert await read_on_driver(connection, driver, statement, parameters, bulk=True) == (keys, rows)
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
    count = select(func.count()).select_from(Assessment).where(Assessment.account_id == bindparam("account_id"))
    other = sqlite3.connect(Path(sqlite_settings.db_path), isolation_level=None)
    try:
        async with assessed.read() as session:
            before = (await core_rows(session, count, {"account_id": 1})).one()[0]
            other.execute("DELETE FROM assessments WHERE account_id = 1")  # committed by another connection
            assert (await core_rows(session, count, {"account_id": 1})).one()[0] == before > 0
        async with assessed.read() as session:
            assert (await core_rows(session, count, {"account_id": 1})).one()[0] == 0
            broken = select(text("no_such_column")).select_from(Assessment)
            with pytest.raises(OperationalError, match="no such column"):
                await core_rows(session, broken, {})
    finally:
        other.close()


async def _answers(db: Db) -> list[object]:
    """Every list shape and every account's 360, as the service layer answers them."""
    manager = db.principals["morgan"]
    answers: list[object] = []
    async with db.read() as session:
        account_ids = list(await session.scalars(select(Account.id).order_by(Account.id)))
        for sort in ACCOUNT_SORTS:
            for filters in (AccountFilters(sort=sort, include_churned=True),
                            AccountFilters(sort=sort, owner="ana.garcia@example.com", renewal_within_days=365),
                            AccountFilters(sort=sort, health_statuses=("at_risk", "needs_attention"),
                                           min_arr=Decimal("10000"), query="a")):
                first = await list_accounts(session, principal=manager, filters=filters, today=TODAY, limit=3)
                answers.append(first)
                if first.next_cursor:
                    answers.append(await list_accounts(session, principal=manager, filters=filters, today=TODAY,
                                                       limit=3, cursor=first.next_cursor))
        for sort in RENEWAL_SORTS:
            answers.append(await list_renewals(session, principal=manager, today=TODAY, within_days=365, sort=sort))
            answers.append(await list_renewals(session, principal=manager, today=TODAY, within_days=None,
                                               stages=("upcoming",), health_statuses=("at_risk",), sort=sort))
        for account_id in account_ids:
            answers.append(await get_account_360(session, account_id=account_id, now=NOW))
    return answers


async def test_lists_and_the_360_answer_the_same_through_the_driver_and_through_sqlalchemy(
        assessed: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    through_driver = await _answers(assessed)
    monkeypatch.setattr(store.db, "driver_of", lambda _connection: None)
    through_sqlalchemy = await _answers(assessed)
    assert through_driver == through_sqlalchemy
    assert sum(len(answer.items) for answer in through_driver if hasattr(answer, "items")) > 100


async def test_bound_values_reach_sqlite_as_sqlalchemy_would_send_them(assessed: Db) -> None:
    """An aware time in another zone is compared in UTC, as stored; money binds as a number."""
    async with assessed.read() as session:
        ticket = await session.scalar(select(SupportTicket).where(SupportTicket.closed_at.is_not(None))
                                      .order_by(SupportTicket.id).limit(1))
        assert ticket is not None and ticket.closed_at is not None
        # Exactly when it closed, written five hours ahead of UTC: the ticket is in the window.
        since = ticket.closed_at.astimezone(timezone(timedelta(hours=5)))
        rows = await core_rows(session, TICKETS, {"account_id": ticket.account_id, "closed_since": since})
        assert ticket.id in {row.id for row in rows}
        later = await core_rows(session, TICKETS, {"account_id": ticket.account_id,
                                                   "closed_since": since + timedelta(microseconds=1)})
        assert ticket.id not in {row.id for row in later}


async def test_a_statement_binds_any_in_list_as_sqlalchemy_does(assessed: Db) -> None:
    """The expanded SQL is kept per shape of the IN lists; each call still binds its own values."""
    statement = select(Account.id, Account.arr).where(Account.health_status.in_(bindparam("statuses", expanding=True)),
                                                      Account.arr >= bindparam("min_arr")).order_by(Account.id)
    calls = [(["at_risk"], Decimal("0")), (list(HEALTH_STATUSES), Decimal("0")), (["neutral"], Decimal("20000")),
             ([], Decimal("0")), (["at_risk"], Decimal("30000")), (list(HEALTH_STATUSES[:3]), Decimal("40000"))]
    async with assessed.read() as session:
        connection = await session.connection()
        driver = driver_of(connection)
        assert driver is not None
        seen = []
        for statuses, min_arr in calls:
            parameters = {"statuses": statuses, "min_arr": min_arr}
            _keys, rows = await read_on_driver(connection, driver, statement, parameters)
            assert rows == [tuple(row) for row in await connection.execute(statement, parameters)]
            seen.append(len(rows))
        # Every account has a status; each call of one shape found its own rows.
        assert seen[1] == 12 and seen[0] != seen[4] and seen[3] == 0
        with pytest.raises(InvalidRequestError, match="min_arr"):
            await read_on_driver(connection, driver, statement, {"statuses": ["healthy"]})


async def test_in_lists_of_many_lengths_read_alike_and_keep_a_bounded_number_of_shapes(assessed: Db) -> None:
    statement = select(Account.id).where(Account.id.in_(bindparam("ids", expanding=True))).order_by(Account.id)
    async with assessed.read() as session:
        connection = await session.connection()
        driver = driver_of(connection)
        assert driver is not None
        accounts = await session.scalar(select(func.count()).select_from(Account))
        for length in [*range(SHAPES_KEPT + 8), 3, SHAPES_KEPT + 2]:
            ids = list(range(length, 0, -1))
            _keys, rows = await read_on_driver(connection, driver, statement, {"ids": ids})
            assert rows == [tuple(row) for row in await connection.execute(statement, {"ids": ids})]
            assert len(rows) == min(length, accounts)
        assert len(plan_for(statement, connection.dialect).bindings) == SHAPES_KEPT


async def test_values_a_statement_carries_itself_bind_as_sqlalchemy_binds_them(assessed: Db) -> None:
    """A literal in the statement, a value computed at each call, and a caller's value for either."""
    computed: list[int] = []

    def upto() -> int:
        computed.append(5)
        return 5

    statement = select(Account.id).where(Account.id >= 2, Account.id <= bindparam("upto", callable_=upto),
                                         Account.arr >= bindparam("min_arr", Decimal("0"))).order_by(Account.id)
    async with assessed.read() as session:
        connection = await session.connection()
        driver = driver_of(connection)
        assert driver is not None
        for parameters in ({}, {}, {"upto": 9}, {"min_arr": Decimal("10000000")}, {}):
            _keys, rows = await read_on_driver(connection, driver, statement, parameters)
            assert rows == [tuple(row) for row in await connection.execute(statement, parameters)]
            assert len(rows) == {"upto": 8, "min_arr": 0}.get(next(iter(parameters), ""), 4)
    # The value was computed for each read that did not give it, through the driver and through SQLAlchemy.
    assert len(computed) == 8


async def test_sqlalchemys_echo_log_shows_reads_through_the_driver(assessed: Db,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    async with assessed.read() as session:
        await core_rows(session, TICKETS, {"account_id": 3, "closed_since": NOW})
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("sqlalchemy.engine")]
    assert any(message.startswith("SELECT support_tickets.id") for message in logged)
    assert "[run through the driver] (3, '2026-11-23 12:00:00.000000')" in logged


async def _write_both_ways(db: Db, renewal_id: int, action: str) -> None:
    """An audit event and a renewal's move, as update_renewal writes them."""
    async with db.write() as session:
        version = (await core_rows(session, select(Renewal.version).where(Renewal.id == renewal_id), {})).one()[0]
        moved = {"forecast_amount": Decimal("1234.50"), "notes": "Sponsor — \"signed\" ☑", "updated_at": NOW,
                 "version": version + 1, "renewal_id": renewal_id, "read_version": version}
        assert await core_write(session, MOVE_RENEWAL, moved) == 1
        assert await core_write(session, MOVE_RENEWAL, moved) == 0  # the version it read is gone
        assert await core_write(session, AUDIT_INSERT, {
            "at": NOW.astimezone(timezone(timedelta(hours=-5))), "principal": "ana.garcia@example.com",
            "action": action, "entity": "renewal", "entity_id": renewal_id,
            "before": {"forecast_amount": "1000.00", "notes": None}, "after": {"forecast_amount": "1234.50"}}) == 1


async def test_one_row_writes_through_the_driver_store_what_sqlalchemy_stores(
        assessed: Db, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite3.connect(Path(sqlite_settings.db_path)) as raw:
        first, second = (row[0] for row in raw.execute(
            "SELECT id FROM renewals WHERE stage = 'upcoming' ORDER BY id LIMIT 2"))
        await _write_both_ways(assessed, first, "through the driver")
        monkeypatch.setattr(store.db, "driver_of", lambda _connection: None)
        await _write_both_ways(assessed, second, "through sqlalchemy")

        def stored(renewal_id: int, action: str) -> list[tuple[object, ...]]:
            renewal = "SELECT forecast_amount, typeof(forecast_amount), notes, updated_at, version FROM renewals " \
                      "WHERE id = ?"
            event = "SELECT at, principal, entity, before, after, typeof(before) FROM audit_events " \
                    "WHERE entity_id = ? AND action = ?"
            return raw.execute(renewal, (renewal_id,)).fetchall() + raw.execute(event, (renewal_id, action)).fetchall()

        through_driver, through_sqlalchemy = stored(first, "through the driver"), stored(second, "through sqlalchemy")
    assert through_driver == through_sqlalchemy
    assert len(through_driver) == 2 and through_driver[0][0] == 1234.5


async def test_writes_the_driver_cannot_run_alone_go_to_sqlalchemy(assessed: Db) -> None:
    computed = Table("computed_default", MetaData(), Column("id", Integer, primary_key=True),
                     Column("name", String, default=lambda: "made in Python"))
    async with assessed.write() as session:
        connection = await session.connection()
        await connection.run_sync(computed.create)
        assert write_plan_for(insert(computed), connection.dialect, frozenset({"id"})) is None
        assert write_plan_for(insert(AuditEvent).returning(AuditEvent.id), connection.dialect,
                              frozenset({"action"})) is None
        assert write_plan_for(AUDIT_INSERT, connection.dialect, frozenset({"action"})) is not None
        assert await core_write(session, insert(computed), {"id": 1}) == 1
        assert (await core_rows(session, select(computed.c.name), {})).one() == ("made in Python",)
