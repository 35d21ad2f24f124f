"""The one-hop SQLite connection behaves as aiosqlite's does where SQLAlchemy looks: rows, row counts,
RETURNING, many-row inserts, streamed results, and errors that leave the connection usable."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from store.db import create_engine, sqlite_url
from store.sqlite_driver import OneHopConnection


async def test_the_sqlite_engine_runs_statements_through_one_hop_connections(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(str(tmp_path / "driver.db")))
    try:
        async with engine.begin() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, OneHopConnection)
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
            many = await connection.execute(text("INSERT INTO t (name) VALUES (:name)"),
                                            [{"name": f"n{i}"} for i in range(5)])
            assert many.rowcount == 5
            returned = await connection.execute(text("INSERT INTO t (name) VALUES ('x') RETURNING id, name"))
            assert returned.all() == [(6, "x")]
            updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id <= 3"))
            assert updated.rowcount == 3
            deleted = await connection.execute(text("DELETE FROM t WHERE id > 5 RETURNING id"))
            assert deleted.scalars().all() == [6]

        async with engine.connect() as connection:
            streamed = await connection.stream(text("SELECT id FROM t ORDER BY id"))
            assert [list(part) async for part in streamed.partitions(2)] == [[(1,), (2,)], [(3,), (4,)], [(5,)]]

        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t (name) VALUES ('n4')"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*), max(name) FROM t"))).one() == (5, "n4")
    finally:
        await engine.dispose()
