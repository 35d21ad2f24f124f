"""Column reads on a SQLite file, run straight through the driver.

core_rows' statements read plain columns, and in SQLite the indexed ones take microseconds; SQLAlchemy's
execution of each (its cache key, execution context, events, cursor result, the async bridge) took
several times as long — the account 360 runs thirteen. Here SQLAlchemy still compiles each statement,
once, and supplies its parameter and column conversions; each call only binds the values, runs the SQL
in the session's transaction (see store.sqlite_driver, which decides on which thread) and converts
the rows.
Listeners of `before_cursor_execute` and SQLAlchemy's echo log still see every statement.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from store.sqlite_driver import OneHopConnection


@dataclass(frozen=True)
class ReadPlan:
    compiled: SQLCompiler
    keys: tuple[str, ...]
    # How each bound value is handed to SQLite (money, aware times, dates), by parameter name.
    binders: dict[str, Callable[[Any], Any]]
    # The columns whose values SQLite returns in another form (dates, money, JSON), with their conversion.
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...]


@functools.lru_cache(maxsize=256)
def plan_for(statement: Select[Any], dialect: Dialect) -> ReadPlan:
    """The statement compiled for `dialect`, with its column names and each column's conversion."""
    compiled = statement.compile(dialect=dialect)
    binders = {name: binder for name, bind in compiled.binds.items()
               if (binder := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
    columns = list(statement.selected_columns)
    conversions = tuple((index, to) for index, column in enumerate(columns)
                        if (to := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None)
    return ReadPlan(compiled=compiled, keys=tuple(statement.selected_columns.keys()), binders=binders,
                    conversions=conversions)


def driver_of(connection: AsyncConnection) -> OneHopConnection | None:
    """The one-hop SQLite connection under `connection`, or None for any other driver."""
    driver = connection.sync_connection.connection.driver_connection
    return driver if isinstance(driver, OneHopConnection) else None


async def read_on_driver(connection: AsyncConnection, driver: OneHopConnection, statement: Executable,
                         parameters: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The column names and rows of `statement`, run on `driver` in `connection`'s transaction."""
    plan = plan_for(statement, connection.dialect)
    state = plan.compiled.construct_expanded_state(parameters, escape_names=False)
    # The expanded state converts only the elements of expanding parameters (IN lists); the rest as planned.
    bound, convert = state.parameters, {**plan.binders, **state.processors}
    values = tuple(convert[name](bound[name]) if name in convert else bound[name] for name in state.positiontup)
    sync_connection = connection.sync_connection
    cursor = driver.cursor()
    sync_connection.dispatch.before_cursor_execute(sync_connection, cursor, state.statement, values, None, False)
    if sync_connection._echo:  # the engine's echo, or logging's INFO level for sqlalchemy.engine
        sync_connection._log_info(state.statement)
        sync_connection._log_info("[read through the driver] %r", values)
    try:
        await cursor.execute(state.statement, values)
        rows = await cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(state.statement, values, exc, sqlite3.Error) from exc
    if plan.conversions:
        rows = [_converted(row, plan.conversions) for row in rows]
    return plan.keys, rows


def _converted(row: tuple[Any, ...], conversions: tuple[tuple[int, Callable[[Any], Any]], ...]) -> tuple[Any, ...]:
    # Only the columns that need it: a row of the account list converts three of its fourteen.
    values = list(row)
    for index, to in conversions:
        values[index] = to(values[index])
    return tuple(values)
