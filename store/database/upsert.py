"""INSERT ... ON CONFLICT in the dialect's own words (SQLite and PostgreSQL spell it the same way in
SQLAlchemy, through different modules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table) -> Any:
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Table) -> Any:
    """An INSERT into `table` that can take ON CONFLICT clauses, for the dialect named."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def insert_or_update(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                           keys: Sequence[str], update: Sequence[str] | dict[str, Any]) -> None:
    """Insert the rows; where a row's `keys` exist, set the `update` columns to the row's values instead
    (or, given a dict, to those expressions, which may read the row's values through
    `excluded_of(session, table)`)."""
    if not rows:
        return
    statement = _insert(session, table)
    values = {name: getattr(statement.excluded, name) for name in update} if not isinstance(update, dict) \
        else update
    await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=values), rows)


def excluded_of(session: AsyncSession, table: Table) -> Any:
    """The `excluded` pseudo-row of an upsert into `table`, for expressions in insert_or_update's `update`."""
    return _insert(session, table).excluded


async def insert_missing_returning(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                                   keys: Sequence[str], returning: Sequence[Any]) -> list[Any]:
    """Insert the rows whose `keys` are not in the table yet (leaving the others as they are), returning
    the `returning` columns of the rows it inserted. One cached statement
    run for many rows: SQLAlchemy sends them as multi-row INSERTs ("insertmanyvalues") and gathers what
    they return."""
    if not rows:
        return []
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys)).returning(*returning)
    return list((await session.execute(statement, list(rows))).all())


async def insert_or_update_returning(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                                     keys: Sequence[str], update: dict[str, Any],
                                     returning: Sequence[Any], where: Any = None) -> list[Any]:
    """insert_or_update with expressions, returning the `returning` columns of every row as written (where
    `where` is given, a stored row it does not hold for is left alone and not returned)."""
    if not rows:
        return []
    statement = _insert(session, table).on_conflict_do_update(index_elements=list(keys), set_=update, where=where) \
        .returning(*returning)
    return list((await session.execute(statement, list(rows))).all())


async def insert_or_change_returning(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                                     keys: Sequence[str], compared: Sequence[str],
                                     returning: Sequence[Any]) -> list[Any]:
    """Insert the rows; where a row's `keys` exist, set its `compared` columns to the row's values only where
    one of them differs. Returns the `returning` columns of the rows inserted or changed (a row that was
    already as given is left alone, unwritten and not returned)."""
    excluded = excluded_of(session, table)
    return await insert_or_update_returning(
        session, table, rows, keys=keys, update={name: getattr(excluded, name) for name in compared},
        where=or_(*(table.c[name].is_distinct_from(getattr(excluded, name)) for name in compared)),
        returning=returning)
