"""The one-hop SQLite connection behaves as aiosqlite's does where SQLAlchemy looks: rows, row counts,
RETURNING, many-row inserts, streamed results, and errors that leave the connection usable. Reads
after a transaction's first statement run on the caller's thread, and those that take too long on the
connection's, without changing what a transaction sees or holding up the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, Update, bindparam, column, func, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.db import create_engine, sqlite_url
from store.sqlite_driver import CHECKPOINT_EVERY, OneHopConnection, one_hop_connect
from store.sqlite_statements import driver_of, read_on_driver, write_on_driver


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


class HopCounter:
    """Counts the calls a connection hands to its thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hops: list[str] = []
        real_execute = OneHopConnection._execute
        counter = self

        async def counted(self: OneHopConnection, function: object, *args: object, **kwargs: object) -> object:
            counter.hops.append(getattr(function, "__name__", "statement"))
            return await real_execute(self, function, *args, **kwargs)

        monkeypatch.setattr(OneHopConnection, "_execute", counted)


async def test_a_transaction_costs_a_hop_per_write_and_one_to_commit(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """BEGIN travels with the first statement; a read takes none; the pool's rollback after a commit
    is not sent."""
    engine = create_engine(sqlite_url(str(tmp_path / "hops.db")))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        counter = HopCounter(monkeypatch)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (id) VALUES (1)"))
            assert (await connection.execute(text("SELECT id FROM t"))).all() == [(1,)]
            await connection.execute(text("UPDATE t SET id = 2"))
        assert counter.hops == ["<lambda>", "<lambda>", "commit"]
        counter.hops.clear()
        async with engine.begin():
            pass  # a transaction with no statement never reaches SQLite
        assert counter.hops == []
    finally:
        await engine.dispose()


async def test_a_deferred_begin_still_takes_the_write_lock_and_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    engine = create_engine(sqlite_url(str(path)))
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)  # another writer that will not wait

    def another_writer_gets_in() -> bool:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        probe.execute("ROLLBACK")
        return True

    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        async with engine.execution_options(csdesk_write=True).connect() as holding:
            await holding.begin()
            await holding.execute(text("SELECT count(*) FROM t"))
            # From its first statement on, a write transaction holds the write lock, as BEGIN IMMEDIATE did.
            assert not another_writer_gets_in()
            await holding.execute(text("INSERT INTO t (id) VALUES (1)"))
            assert probe.execute("SELECT count(*) FROM t").fetchone() == (0,)
            await holding.rollback()
        assert another_writer_gets_in()
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        probe.close()
        await engine.dispose()


T = table("t", column("id"), column("name"))
LOOKUP = select(T.c.name).where(T.c.id == bindparam("id"))
COUNT = select(func.count()).select_from(T)
# Two million steps of SQLite's machine, a hundred times what a read may take on the calling thread.
LONG_READ = select(text("max(x) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                        "WHERE x < 100000) SELECT x FROM c)"))


async def lookup(connection: AsyncConnection, statement: Select[Any], **parameters: object) -> list[tuple[Any, ...]]:
    """A read, as core_rows runs one on SQLite."""
    driver = driver_of(connection)
    assert driver is not None
    return (await read_on_driver(connection, driver, statement, parameters))[1]


@pytest.fixture
async def table_file(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    """An engine on a SQLite file holding table t with rows 1 "one" and 2 "two"."""
    path = tmp_path / "lookups.db"
    engine = create_engine(sqlite_url(str(path)))
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
        await connection.execute(text("INSERT INTO t (id, name) VALUES (1, 'one'), (2, 'two')"))
    yield engine, path
    await engine.dispose()


async def test_reads_and_the_commit_of_a_read_run_without_a_hop(table_file: tuple[AsyncEngine, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _path = table_file
    counter = HopCounter(monkeypatch)
    async with engine.begin() as connection:
        assert await lookup(connection, LOOKUP, id=2) == [("two",)]
        assert await lookup(connection, LOOKUP, id=3) == []
        assert (await connection.execute(COUNT)).scalar() == 2  # through SQLAlchemy's execution as well
    assert counter.hops == []


async def test_a_short_read_runs_on_the_caller_however_often_it_ran(table_file: tuple[AsyncEngine, Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite counts a prepared statement's steps over all its runs, and sqlite3 keeps statements prepared:
    counted that way, a short read (or the pragma around it) would now and then be stopped as if it were
    long, and a stopped pragma failed the call with "interrupted"."""
    engine, _path = table_file
    monkeypatch.setattr(OneHopConnection, "read_steps_on_caller", 200)
    counter = HopCounter(monkeypatch)
    for _ in range(300):
        async with engine.begin() as connection:
            assert await lookup(connection, LOOKUP, id=2) == [("two",)]
            assert await lookup(connection, LOOKUP, id=1) == [("one",)]
    assert counter.hops == []
    async with engine.begin() as connection:
        assert await lookup(connection, LONG_READ) == [(100_000,)]
    assert counter.hops == ["<lambda>"]


async def test_a_first_read_that_would_wait_for_a_lock_waits_on_the_connections_thread(tmp_path: Path) -> None:
    """Here another connection holds the whole file (a rollback-journal writer mid-commit); in WAL files
    a read's snapshot can have to wait too, rarely, under heavy writing."""
    path = tmp_path / "journal.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    setup.execute("INSERT INTO t (id) VALUES (1)")
    setup.close()
    reader = one_hop_connect(str(path))
    await reader
    reader.sqlite_connection.isolation_level = None
    reader.sqlite_connection.execute("PRAGMA busy_timeout = 5000")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")

        async def read() -> list[tuple[Any, ...]]:
            reader.defer_begin("BEGIN DEFERRED")
            cursor = await reader.cursor().execute("SELECT count(*) FROM t")
            return await cursor.fetchall()

        reading = asyncio.create_task(read())
        # Were the read left waiting on the event loop's thread, this sleep could not end before it did,
        # and it would end in "database is locked" after the busy timeout.
        await asyncio.sleep(0.2)
        assert not reading.done()
        holder.execute("INSERT INTO t (id) VALUES (2)")
        holder.execute("COMMIT")
        assert await reading == [(2,)]
        assert reader.sqlite_connection.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    finally:
        holder.close()
        await reader.close()


async def test_reads_in_one_transaction_read_one_snapshot_even_one_stopped_past_its_steps(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, path = table_file
    counter = HopCounter(monkeypatch)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as connection:
            assert await lookup(connection, COUNT) == [(2,)]
            other.execute("INSERT INTO t (id, name) VALUES (3, 'three')")
            # The transaction began with its first read: it still reads the data as it was then.
            assert await lookup(connection, LOOKUP, id=3) == []
            # A long read is stopped on the calling thread and runs again on the connection's.
            assert await lookup(connection, LONG_READ) == [(100_000,)]
            assert (await connection.execute(LONG_READ)).scalar() == 100_000
            # Stopping it kept the transaction and its snapshot.
            assert await lookup(connection, COUNT) == [(2,)]
        assert counter.hops == ["<lambda>", "<lambda>"]
        async with engine.begin() as connection:
            assert await lookup(connection, LOOKUP, id=3) == [("three",)]
        counter.hops.clear()
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            await connection.execute(text("INSERT INTO t (id, name) VALUES (4, 'four')"))
            assert await lookup(connection, LONG_READ) == [(100_000,)]
            await connection.execute(text("UPDATE t SET name = 'FOUR' WHERE id = 4"))
        # Stopping a read in a write transaction rolled nothing back: both writes were committed.
        assert counter.hops == ["<lambda>", "<lambda>", "<lambda>", "commit"]
        assert other.execute("SELECT id, name FROM t WHERE id >= 3 ORDER BY id").fetchall() == \
               [(3, "three"), (4, "FOUR")]
    finally:
        other.close()


async def test_a_transaction_that_wrote_ends_on_the_connections_thread(table_file: tuple[AsyncEngine, Path],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _path = table_file
    counter = HopCounter(monkeypatch)
    async with engine.begin() as connection:
        assert await lookup(connection, COUNT) == [(2,)]
        await connection.execute(text("INSERT INTO t (id, name) VALUES (3, 'three')"))
        assert await lookup(connection, COUNT) == [(3,)]
    assert counter.hops == ["<lambda>", "commit"]
    counter.hops.clear()
    async with engine.connect() as connection:
        await connection.begin()
        await lookup(connection, LOOKUP, id=1)
        await connection.execute(text("DELETE FROM t"))
        await connection.rollback()
    assert counter.hops == ["<lambda>", "rollback"]
    async with engine.connect() as connection:
        assert await lookup(connection, COUNT) == [(3,)]


async def test_a_read_that_must_wait_for_the_write_lock_never_holds_up_the_event_loop(
        table_file: tuple[AsyncEngine, Path]) -> None:
    engine, path = table_file
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the write lock

        async def write_after_lookup() -> str:
            async with engine.execution_options(csdesk_write=True).begin() as connection:
                [(name,)] = await lookup(connection, LOOKUP, id=1)
                await connection.execute(text("UPDATE t SET name = 'uno' WHERE id = 1"))
                return name

        writer = asyncio.create_task(write_after_lookup())
        # Were the read run on the event loop's thread, waiting for the lock would stop this sleep from
        # ending until SQLite gave up (5 s) and the writer failed with "database is locked".
        await asyncio.sleep(0.2)
        assert not writer.done()
        holder.execute("ROLLBACK")
        assert await writer == "one"
        async with engine.connect() as connection:
            assert await lookup(connection, LOOKUP, id=1) == [("uno",)]
            driver = driver_of(connection)
            assert driver is not None
            # The attempt on the loop's thread ran without a busy timeout; the connection has its own back.
            assert driver.sqlite_connection.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    finally:
        holder.close()


async def test_a_write_transaction_that_reads_first_takes_the_free_write_lock_without_a_hop(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, path = table_file
    counter = HopCounter(monkeypatch)
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            assert await lookup(connection, LOOKUP, id=1) == [("one",)]
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")  # the lookup's BEGIN IMMEDIATE took the write lock
            await connection.execute(text("UPDATE t SET name = 'uno' WHERE id = 1"))
        assert counter.hops == ["<lambda>", "commit"]
        assert probe.execute("SELECT name FROM t WHERE id = 1").fetchone() == ("uno",)
    finally:
        probe.close()


RENAME = T.update().where(T.c.id == bindparam("row_id"))


async def write(connection: AsyncConnection, statement: Update[Any] | Any, **parameters: object) -> int | None:
    """A one-row write, as core_write runs one on SQLite."""
    driver = driver_of(connection)
    assert driver is not None
    return await write_on_driver(connection, driver, statement, parameters)


async def test_one_row_writes_run_on_the_caller_once_the_transaction_holds_the_write_lock(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, path = table_file
    monkeypatch.setattr(OneHopConnection, "_commits_here", 0)
    counter = HopCounter(monkeypatch)
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            assert await lookup(connection, LOOKUP, id=1) == [("one",)]  # its BEGIN IMMEDIATE took the lock
            assert await write(connection, RENAME, row_id=1, name="uno") == 1
            assert await write(connection, T.insert(), id=3, name="three") == 1
            assert await write(connection, RENAME, row_id=9, name="nobody") == 0
            assert await lookup(connection, LOOKUP, id=3) == [("three",)]
            assert probe.execute("SELECT count(*) FROM t").fetchone() == (2,)  # not committed yet
        assert counter.hops == []  # its commit ran here too: it wrote nothing on the connection's thread
        assert probe.execute("SELECT count(*) FROM t").fetchone() == (3,)

        # A transaction that began deferred may have to wait for the write lock: its first write takes the
        # hop with its BEGIN, and holds the lock from then on.
        counter.hops.clear()
        async with engine.begin() as connection:
            assert await write(connection, RENAME, row_id=2, name="dos") == 1
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
            assert await write(connection, RENAME, row_id=3, name="tres") == 1
        assert counter.hops == ["<lambda>", "commit"]
        assert probe.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(1, "uno"), (2, "dos"), (3, "tres")]
    finally:
        probe.close()


async def test_a_one_row_write_that_fails_on_the_caller_rolls_back_with_its_transaction(
        table_file: tuple[AsyncEngine, Path]) -> None:
    engine, path = table_file
    with pytest.raises(IntegrityError, match="UNIQUE"):
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            assert await write(connection, RENAME, row_id=1, name="uno") == 1
            await write(connection, T.insert(), id=2, name="taken")
    async with engine.execution_options(csdesk_write=True).begin() as connection:
        # The connection is usable, and nothing of the failed transaction was kept.
        assert await lookup(connection, LOOKUP, id=1) == [("one",)]
        assert await write(connection, RENAME, row_id=2, name="dos") == 1
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(1, "one"), (2, "dos")]


async def test_one_commit_in_so_many_that_could_run_on_the_caller_takes_the_hop_to_checkpoint(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, path = table_file
    monkeypatch.setattr(OneHopConnection, "_commits_here", 0)
    counter = HopCounter(monkeypatch)
    for turn in range(2 * CHECKPOINT_EVERY):
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            await lookup(connection, LOOKUP, id=1)  # as a tool call's lookup of its caller begins it
            assert await write(connection, RENAME, row_id=1, name=f"turn {turn}") == 1
    assert counter.hops == ["commit", "commit"]
    async with engine.connect() as connection:
        driver = driver_of(connection)
        assert driver is not None
        # What runs on the connection's thread runs with SQLite's checkpoint as set.
        assert await driver.on_thread(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()) == (1000,)
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT name FROM t WHERE id = 1").fetchone() == (f"turn {2 * CHECKPOINT_EVERY - 1}",)


async def test_the_calling_thread_turns_a_pragma_off_once_and_the_next_hop_turns_it_back_on_first(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The busy timeout (off for a transaction's first statement here) and the automatic checkpoint (off for
    a commit here) stay off between such calls instead of costing two pragmas each time; a hop to the
    connection's thread, where SQLite may wait and checkpoint, turns them back on before anything else."""
    engine, _ = table_file
    monkeypatch.setattr(OneHopConnection, "_commits_here", 0)
    counter = HopCounter(monkeypatch)
    async with engine.execution_options(csdesk_write=True).connect() as connection:
        driver = driver_of(connection)
        assert driver is not None
        executed: list[str] = []
        driver.sqlite_connection.set_trace_callback(executed.append)
        for turn in range(3):
            async with connection.begin():
                assert await lookup(connection, LOOKUP, id=1) == [("one",) if turn == 0 else (f"turn {turn - 1}",)]
                assert await write(connection, RENAME, row_id=1, name=f"turn {turn}") == 1
        assert counter.hops == []
        # Set once each (the first turn also reads the values as set, to restore them).
        assert [sql for sql in executed if sql.startswith("PRAGMA") and "=" in sql] == [
            "PRAGMA busy_timeout = 0", "PRAGMA wal_autocheckpoint = 0"]
        executed.clear()
        async with connection.begin():
            await connection.execute(text("INSERT INTO t (id, name) VALUES (3, 'three')"))  # a write hops
        assert counter.hops == ["<lambda>", "commit"]
        assert executed[:3] == ["PRAGMA busy_timeout = 5000", "PRAGMA wal_autocheckpoint = 1000",
                                "BEGIN IMMEDIATE"]
        assert await driver.on_thread(lambda c: c.execute("PRAGMA busy_timeout").fetchone()) == (5000,)


async def test_the_log_stays_bounded_when_every_write_commits_on_the_caller(
        table_file: tuple[AsyncEngine, Path]) -> None:
    """Were no commit to checkpoint, 3,000 rows of 3 KB would grow the log past 9,000 KiB; SQLite's
    checkpoint at 1,000 pages keeps it near 4,000."""
    engine, path = table_file
    for turn in range(3000):
        async with engine.execution_options(csdesk_write=True).begin() as connection:
            await lookup(connection, LOOKUP, id=1)
            assert await write(connection, T.insert(), id=100 + turn, name="x" * 3000) == 1
    log_kib = (path.parent / (path.name + "-wal")).stat().st_size / 1024
    assert log_kib < 6000, f"the write-ahead log grew to {log_kib:,.0f} KiB"


async def test_without_a_write_ahead_log_one_row_writes_and_commits_take_the_hop(
        table_file: tuple[AsyncEngine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _path = table_file
    monkeypatch.setattr(OneHopConnection, "in_wal_mode", lambda _self: False)
    counter = HopCounter(monkeypatch)
    async with engine.execution_options(csdesk_write=True).begin() as connection:
        assert await lookup(connection, LOOKUP, id=1) == [("one",)]
        assert await write(connection, RENAME, row_id=1, name="uno") == 1
    assert counter.hops == ["<lambda>", "commit"]
