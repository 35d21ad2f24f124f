"""Column reads and one-row writes on a SQLite file, run straight through the driver.

core_rows' statements read plain columns, and in SQLite the indexed ones take microseconds; SQLAlchemy's
execution of each (its cache key, execution context, events, cursor result, the async bridge) took
several times as long — the account 360 runs thirteen. core_write's statements change one row by its
key (a renewal's forecast, an audit event), where the same execution cost ten times the write. Here
SQLAlchemy still compiles each statement, once per set of values it is given, and supplies its
parameter and column conversions; each call only binds the values, runs the SQL in the session's
transaction (see store.sqlite_driver, which decides on which thread) and converts the rows.
Listeners of `before_cursor_execute` and SQLAlchemy's echo log still see every statement.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from store.sqlite_driver import OneHopConnection

Convert = Callable[[Any], Any]
# How many shapes of IN lists a statement keeps worked out: its lists of statuses and stages have a few;
# a statement given lists of any length (ids, say) works out the rest each time rather than grow without end.
SHAPES_KEPT = 32


@dataclass(frozen=True)
class Binding:
    """The SQL for one shape of a statement's values (the length of each IN list), and where each of its
    placeholders takes its value from."""

    sql: str
    # Per placeholder: the parameter's name, the element's index if the parameter is an IN list, and the
    # conversion to what SQLite stores (money, aware times, dates), if any.
    placeholders: tuple[tuple[str, int | None, Convert | None], ...]

    def values(self, parameters: dict[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, index, convert in self.placeholders:
            value = parameters[name] if index is None else parameters[name][index]
            values.append(value if convert is None else convert(value))
        return tuple(values)


@dataclass(frozen=True)
class Plan:
    compiled: SQLCompiler
    # The names of the columns a read returns (none for a write).
    keys: tuple[str, ...]
    # How each bound value is handed to SQLite, by parameter name.
    binders: dict[str, Convert]
    # The columns whose values SQLite returns in another form (dates, money, JSON), with their conversion.
    conversions: tuple[tuple[int, Convert], ...]
    # The parameters that are IN lists; the values a statement carries itself, and those it computes per call.
    lists: tuple[str, ...]
    defaults: dict[str, Any]
    computed: tuple[tuple[str, Callable[[], Any]], ...]
    # Filled as shapes are first seen: working out a shape (SQLAlchemy's expansion of the IN lists) cost
    # more than an indexed read, and a tool sends a few shapes all its life.
    bindings: dict[tuple[int, ...], Binding] = field(default_factory=dict)

    def bind(self, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL and positional values for `parameters`; a missing value raises as SQLAlchemy does."""
        given = parameters
        if self.defaults or self.computed:
            given = {**self.defaults, **{name: compute() for name, compute in self.computed if name not in parameters},
                     **parameters}
        try:
            shape = tuple(len(given[name]) for name in self.lists)
            binding = self.bindings.get(shape) or self._binding(shape, given)
            return binding.sql, binding.values(given)
        except KeyError:
            # SQLAlchemy names the missing value.
            self.compiled.construct_expanded_state(parameters, escape_names=False)
            raise

    def _binding(self, shape: tuple[int, ...], given: dict[str, Any]) -> Binding:
        state = self.compiled.construct_expanded_state(given, escape_names=False)
        element_of = {expanded: (name, index) for name, names in state.parameter_expansion.items()
                      for index, expanded in enumerate(names)}
        converts = {**self.binders, **state.processors}
        binding = Binding(sql=state.statement, placeholders=tuple(
            (*element_of.get(placeholder, (placeholder, None)), converts.get(placeholder))
            for placeholder in state.positiontup or ()))
        if len(self.bindings) < SHAPES_KEPT:
            self.bindings[shape] = binding
        return binding


@functools.lru_cache(maxsize=256)
def plan_for(statement: Select[Any], dialect: Dialect) -> Plan:
    """The read compiled for `dialect`, with its column names and each column's conversion."""
    compiled = statement.compile(dialect=dialect)
    columns = list(statement.selected_columns)
    conversions = tuple((index, to) for index, column in enumerate(columns)
                        if (to := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None)
    return _plan(compiled, dialect, keys=tuple(statement.selected_columns.keys()), conversions=conversions)


WriteStatement = Insert | Update | Delete


@functools.lru_cache(maxsize=256)
def write_plan_for(statement: WriteStatement, dialect: Dialect, names: frozenset[str]) -> Plan | None:
    """The write compiled for `dialect` and values of these `names` (an INSERT's columns, the columns an
    UPDATE without values() sets), or None when SQLAlchemy must run it: it returns rows, or a column
    takes a value computed in Python (a default or onupdate) that SQLAlchemy supplies as it runs it."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
    if compiled.effective_returning or compiled.insert_prefetch or compiled.update_prefetch:
        return None
    return _plan(compiled, dialect, keys=(), conversions=())


def _plan(compiled: SQLCompiler, dialect: Dialect, *, keys: tuple[str, ...],
          conversions: tuple[tuple[int, Convert], ...]) -> Plan:
    binds = compiled.binds.items()
    binders = {name: binder for name, bind in binds
               if (binder := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
    return Plan(compiled=compiled, keys=keys, binders=binders, conversions=conversions,
                lists=tuple(name for name, bind in binds if bind.expanding),
                defaults={name: bind.value for name, bind in binds if not bind.required and not bind.callable},
                computed=tuple((name, bind.callable) for name, bind in binds if bind.callable))


def driver_of(connection: AsyncConnection) -> OneHopConnection | None:
    """The one-hop SQLite connection under `connection`, or None for any other driver."""
    driver = connection.sync_connection.connection.driver_connection
    return driver if isinstance(driver, OneHopConnection) else None


async def read_on_driver(connection: AsyncConnection, driver: OneHopConnection, statement: Select[Any],
                         parameters: dict[str, Any], *, bulk: bool = False
                         ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The column names and rows of `statement`, run on `driver` in `connection`'s transaction (a `bulk`
    read on the connection's thread)."""
    plan = plan_for(statement, connection.dialect)
    sql, values = plan.bind(parameters)
    cursor = driver.cursor()
    _announce(connection, cursor, sql, values)
    try:
        await (cursor.execute_on_thread(sql, values) if bulk else cursor.execute(sql, values))
        rows = await cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
    if plan.conversions:
        rows = [_converted(row, plan.conversions) for row in rows]
    return plan.keys, rows


async def write_on_driver(connection: AsyncConnection, driver: OneHopConnection, statement: WriteStatement,
                          parameters: dict[str, Any]) -> int | None:
    """Run the one-row write `statement` on `driver` in `connection`'s transaction and return the rows it
    changed, or None, having run nothing, if SQLAlchemy must run it (see write_plan_for)."""
    plan = write_plan_for(statement, connection.dialect, frozenset(parameters))
    if plan is None:
        return None
    sql, values = plan.bind(parameters)
    _announce(connection, cursor := driver.cursor(), sql, values)
    try:
        return await cursor.execute_one_row_write(sql, values)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc


def _announce(connection: AsyncConnection, cursor: Any, sql: str, values: tuple[Any, ...]) -> None:
    """What SQLAlchemy does before it runs a statement: tell its listeners, and its echo log."""
    sync_connection = connection.sync_connection
    sync_connection.dispatch.before_cursor_execute(sync_connection, cursor, sql, values, None, False)
    if sync_connection._echo:  # the engine's echo, or logging's INFO level for sqlalchemy.engine
        sync_connection._log_info(sql)
        sync_connection._log_info("[run through the driver] %r", values)


def _converted(row: tuple[Any, ...], conversions: tuple[tuple[int, Callable[[Any], Any]], ...]) -> tuple[Any, ...]:
    # Only the columns that need it: a row of the account list converts three of its fourteen.
    values = list(row)
    for index, to in conversions:
        values[index] = to(values[index])
    return tuple(values)
