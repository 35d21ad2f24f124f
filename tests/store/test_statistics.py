"""PostgreSQL planning: after a bulk load the planner gets fresh statistics at once (autovacuum may be
late or off; without them it chose an 18,000-row scan over the retention-view index at 100,000
accounts), and csdesk's connections run without JIT compilation (it cost more than it saved)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from store.database.engine import refresh_statistics
from tests.conftest import Db
from tests.factories import make_account


async def test_refreshing_statistics_gives_the_planner_the_new_row_counts(db: Db) -> None:
    if db.app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans from the schema alone; there is nothing to refresh")
    for number in range(3):
        await make_account(db, name=f"Account {number}")
    await refresh_statistics(db.app.write_sessions)
    async with db.read() as session:
        counted = await session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'accounts'"))
    assert counted == 3


async def test_postgresql_connections_do_not_jit_compile(db: Db) -> None:
    if db.app.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL has a JIT")
    async with db.read() as session:
        assert await session.scalar(text("SHOW jit")) == "off"
