"""INSERT ... ON CONFLICT in the dialect's own words (SQLite and PostgreSQL spell it the same way in
SQLAlchemy, through different modules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def insert_missing(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                         keys: Sequence[str]) -> None:
    """Insert the rows whose `keys` are not in the table yet; leave the others as they are."""
    if rows:
        await session.execute(_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)), rows)


async def insert_or_update(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *,
                           keys: Sequence[str], update: Sequence[str] | dict[str, Any]) -> None:
    """Insert the rows; where a row's `keys` exist, set the `update` columns to the row's values instead
    (or, given a dict, to those expressions, which may read the row's values as `excluded`).

    `update` as a dict is built by `on_conflict`'s caller from `excluded_of(session, table)`."""
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
                                   keys: Sequence[str], returning: Any) -> list[Any]:
    """insert_missing, returning `returning` of the rows it inserted (as multi-row statements, in chunks that
    stay inside both databases' limit of about 32,000 bound values)."""
    inserted: list[Any] = []
    per_statement = max(1, 30_000 // max(1, len(rows[0]))) if rows else 1
    for start in range(0, len(rows), per_statement):
        statement = _insert(session, table).values(list(rows[start:start + per_statement])) \
            .on_conflict_do_nothing(index_elements=list(keys))
        inserted += (await session.execute(statement.returning(returning))).scalars()
    return inserted
