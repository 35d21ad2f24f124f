"""aiosqlite connections that cost one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy makes four such calls per
statement (open a cursor, execute, fetch the rows, close the cursor). Each hop costs tens of
microseconds of queueing and wake-up: more than an indexed read itself, and it added up to most of a
small tool's time (13 hops for a list, 57 for the account 360). Here a statement's execute and fetch
run as one call on that thread, and opening or closing a cursor needs none. Results are read whole,
as SQLAlchemy's aiosqlite adapter already does for every statement that is not streamed.

A transaction's BEGIN rides along with its first statement (nothing can happen in between on this
connection, so it means the same), and the pool's rollback of a connection that is not in a
transaction, which SQLite would ignore, is not sent at all: a read-only tool call went from five
hops to three.

A read (a SELECT) runs on the calling thread, without a hop, for up to READ_STEPS_ON_CALLER steps of
SQLite's virtual machine: the reads a tool makes (a unique key, one account's rows, a page of a list
and its total) take a few hundred to a few thousand, less time than handing them to the connection's
thread and being woken with the answer. A read that needs more is stopped there, which leaves its
transaction as it was, and runs again on the connection's thread: the event loop is held up for 0.4 to
2 ms, never for a whole report. (SQLite looks at the count between steps, so a single long step, a
page read from a cold disk, can run past it.) The commit or rollback of a transaction that changed
nothing, which only lets go of its read snapshot, runs here too.

A transaction's first statement takes its locks, and SQLite waits for a lock by sleeping on the thread
that runs the statement. On the event loop's thread that sleep would also stop the other requests,
among them the writer it waits for, from committing: under 20 concurrent clients, reads that began
their transaction there failed with "database is locked" after the 5 s busy timeout. So a first
statement that is a read runs here with its BEGIN and no busy timeout: if SQLite would have to wait
(for the write lock a write transaction's BEGIN IMMEDIATE takes, or, rarely, for a read snapshot under
heavy writing) it says so at once, and the BEGIN and the read go to the connection's thread, where they
wait. A first statement that writes takes the hop with its BEGIN. A write runs on the connection's
thread: SQLite cannot stop a write halfway without rolling back its whole transaction, so a write has
no bound here, and a commit that wrote can also checkpoint the log. One kind is the exception: a write
its caller vouches changes at most one row, found by its key (see execute_one_row_write), in a
transaction that already holds the write lock, with a write-ahead log: it cannot wait for a lock, and it
touches a few pages, as an indexed read does, so it runs here too. When those were all the
transaction wrote, its commit runs here as well: in write-ahead-log mode a commit by the holder of the
write lock never waits, and appends the few pages it changed to the log without syncing it (synchronous
is NORMAL). What it must not do here is checkpoint the log, which SQLite does in the commit that takes
the log past 1,000 pages (copying them into the database and syncing it: milliseconds). So such a commit
runs with the automatic checkpoint off, and one in CHECKPOINT_EVERY takes the hop with it on, as every
other commit does: the log grows at most that many small commits past its usual size before the next
checkpoint. The busy timeout and the checkpoint, once turned off here, stay off between calls: nothing
else that runs here can wait or checkpoint, and the next call on the connection's thread, where SQLite
may do both, turns them back on before it runs (see OneHopConnection._execute).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

Row = tuple[Any, ...]
Outcome = tuple[Any, list[Row], int, int | None]
# How many steps of SQLite's virtual machine a read may take on the calling thread: 0.4 to 2 ms on a
# 2-core machine, ten times what a page of a list with its total takes at 100,000 accounts.
READ_STEPS_ON_CALLER = 20_000
# How often, within those steps, SQLite asks whether to go on (see _run_counted).
PROGRESS_CALLS = 20
# One in this many commits that could run on the calling thread goes to the connection's thread with
# SQLite's automatic checkpoint on (see the module's docstring).
CHECKPOINT_EVERY = 32


def _is_read(sql: str) -> bool:
    # A statement that starts with WITH may go on to write; only a plain SELECT is surely a read.
    return sql.lstrip()[:6].upper() == "SELECT"


def _run(connection: sqlite3.Connection, *, begin: str | None, sql: str, parameters: Any) -> Outcome:
    cursor = connection.cursor()
    try:
        if begin:
            cursor.execute(begin)
        return _execute(cursor, sql, parameters)
    finally:
        cursor.close()


def _execute(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> Outcome:
    cursor.execute(sql, parameters)
    description = cursor.description
    rows = cursor.fetchall() if description else []
    # Read after the rows: a statement with RETURNING counts its rows as they are stepped.
    return description, rows, cursor.rowcount, cursor.lastrowid


def _run_here(cursor: sqlite3.Cursor, begin: str | None, sql: str, parameters: Any, *, steps: int,
              stop_when_busy: bool) -> tuple[Outcome | None, str | None]:
    """Run the read `sql` here on `cursor`, after `begin` if given, and return its outcome and the BEGIN
    still to be sent (None once sent). The outcome is None if the read needed more than `steps` (SQLite
    then stops it; stopping a read leaves the transaction as it was, snapshot included) or, with
    `stop_when_busy` (the connection's busy timeout is off), if the BEGIN or the read would have to wait
    for a lock: it then waits on the connection's thread instead."""
    if begin:
        try:
            cursor.execute(begin)
        except sqlite3.OperationalError as exc:
            if stop_when_busy and _is_busy(exc):
                return None, begin  # another writer holds the write lock: nothing began
            raise
    return _run_counted(cursor, sql, parameters, steps=steps, stop_when_busy=stop_when_busy), None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # SQLITE_BUSY, or one of its extended codes (waiting for another connection's recovery of the log).
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _run_counted(cursor: sqlite3.Cursor, sql: str, parameters: Any, *, steps: int,
                 stop_when_busy: bool) -> Outcome | None:
    """Run `sql` with SQLite stopping it after about `steps` steps of its own.

    SQLite calls a progress handler when a statement's step count, summed over all its runs, reaches a
    multiple of the handler's interval, and sqlite3 keeps statements prepared between runs: a handler
    that stopped at its first call would stop a short read (or the pragma beside it, which then fails
    the call with "interrupted") whenever its running sum crossed a multiple. So the handler is called
    every twentieth of `steps` and stops the statement at its twentieth call: after `steps` less at most
    one interval, counted for this run alone. Nothing else runs under the handler."""
    calls = 0

    def stop() -> int:
        nonlocal calls
        calls += 1
        return calls >= PROGRESS_CALLS

    connection = cursor.connection
    connection.set_progress_handler(stop, max(1, steps // PROGRESS_CALLS))
    try:
        return _execute(cursor, sql, parameters)
    except sqlite3.OperationalError as exc:
        if calls >= PROGRESS_CALLS or (stop_when_busy and _is_busy(exc)):
            return None
        raise
    finally:
        connection.set_progress_handler(None, 0)


class OneHopCursor:
    """The cursor API SQLAlchemy's aiosqlite adapter uses; each execute is one call on the thread at most."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: deque[Row] = deque()
        self.description: Sequence[Any] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        """Run `sql`: a read on the calling thread while it stays within its steps, anything else on
        the connection's thread."""
        if not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            self._connection.defer_begin(sql)
            self.description, self._rows, self.rowcount, self.lastrowid = None, deque(), -1, None
            return self
        holds_locks = self._connection.holds_its_locks()
        begin = self._connection.take_begin()
        values = () if parameters is None else parameters
        outcome = None
        if _is_read(sql) and (holds_locks or begin is not None):
            if not holds_locks:  # a read that takes its transaction's locks must not wait for them here
                self._connection.wait_for_no_lock_here()
            outcome, begin = _run_here(self._connection.caller_cursor(), begin, sql, values,
                                       steps=self._connection.read_steps_on_caller, stop_when_busy=not holds_locks)
        if outcome is None:
            outcome = await self._connection.statement_on_thread(sql, values, begin=begin)
        self._hold(outcome)
        return self

    async def execute_on_thread(self, sql: str, parameters: Any) -> OneHopCursor:
        """Run `sql` on the connection's thread: a read its caller knows would not fit within the steps
        allowed on the calling thread, so trying there first would only hold up the event loop."""
        self._hold(await self._connection.statement_on_thread(sql, parameters, begin=self._connection.take_begin()))
        return self

    async def execute_one_row_write(self, sql: str, parameters: Any) -> int:
        """Run `sql`, which the caller vouches is an INSERT of one row or an UPDATE or DELETE of at most
        one row found by its key (no triggers here fan it out), and return the rows it changed: on the
        calling thread if the transaction already holds the write lock, else as any statement."""
        if self._connection.may_write_here():
            outcome = _execute(self._connection.caller_cursor(), sql, parameters)
            self._connection.count_write_here(outcome[2])
            self._hold(outcome)
        else:
            await self.execute_on_thread(sql, parameters)
        return self.rowcount

    def _hold(self, outcome: Outcome) -> None:
        """Keep a statement's outcome for SQLAlchemy to read off the cursor."""
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = deque(rows)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        begin = self._connection.take_begin()

        def run(connection: sqlite3.Connection) -> tuple[int, int | None]:
            cursor = connection.cursor()
            try:
                if begin:
                    cursor.execute(begin)
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.rowcount, self.lastrowid = await self._connection.on_thread(run)
        self.description, self._rows = None, deque()
        return self

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Row]:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors need no hop to open or close."""

    _pending_begin: str | None = None
    # The pragmas the calling thread has turned off (see _turn_off_here), and their values as set.
    _off_here: frozenset[str] = frozenset()
    _as_set: dict[str, int] | None = None
    _caller_cursor: sqlite3.Cursor | None = None
    read_steps_on_caller = READ_STEPS_ON_CALLER
    # SQLite's count of rows changed on this connection when the current transaction began.
    _changes_at_begin = 0
    # Whether the current transaction's BEGIN takes the write lock (IMMEDIATE or EXCLUSIVE).
    _begins_writing = False
    # The rows the current transaction changed with one-row writes on the calling thread.
    _changes_here = 0
    _in_wal_mode: bool | None = None
    # Commits that could have run on the calling thread, in this process (see commit).
    _commits_here = 0

    def cursor(self) -> OneHopCursor:  # type: ignore[override]  # aiosqlite's is awaited; ours is ready
        return OneHopCursor(self)

    def defer_begin(self, sql: str) -> None:
        """Hold a BEGIN until the transaction's first statement, which sends it."""
        if self._pending_begin is not None or self._may_be_in_transaction():
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        self._pending_begin = sql

    def take_begin(self) -> str | None:
        begin, self._pending_begin = self._pending_begin, None
        if begin is not None and self._connection is not None:
            # Read between calls: nothing runs on the connection's thread now.
            self._changes_at_begin = self.sqlite_connection.total_changes
            self._begins_writing = begin.split()[-1].upper() in ("IMMEDIATE", "EXCLUSIVE")
            self._changes_here = 0
        return begin

    def count_write_here(self, changed: int) -> None:
        self._changes_here += max(changed, 0)

    def caller_cursor(self) -> sqlite3.Cursor:
        """The cursor reads on the calling thread run on, kept: making a cursor cost as much as an indexed
        read's own execution. Used between calls on the connection's thread, never during one."""
        if self._caller_cursor is None:
            self._caller_cursor = self.sqlite_connection.cursor()
        return self._caller_cursor

    def wait_for_no_lock_here(self) -> None:
        """Turn SQLite's busy timeout off for what runs next on the calling thread: a transaction's first
        statement, which must not wait for a lock there (see OneHopCursor.execute)."""
        self._turn_off_here("busy_timeout")

    def _turn_off_here(self, pragma: str) -> None:
        """Set `pragma` to 0 on the calling thread. It stays off until the next hop to the connection's
        thread turns it back on (see _execute): nothing else that runs here can wait for a lock or
        checkpoint, and turning it back on after each use cost two or three pragmas per call."""
        if pragma not in self._off_here:
            if self._as_set is None:
                self._as_set = {}
            if pragma not in self._as_set:  # as set when the connection was opened
                self._as_set[pragma] = int(self.sqlite_connection.execute(f"PRAGMA {pragma}").fetchone()[0])
            self.caller_cursor().execute(f"PRAGMA {pragma} = 0")
            self._off_here = self._off_here | {pragma}

    def holds_its_locks(self) -> bool:
        """Whether the current transaction already holds what its reads need (its read snapshot, or the
        write lock): true once its first statement has run. Until then a statement may wait for SQLite's
        locks (another writer's, or a reader's recovery of the write-ahead log's index), and SQLite waits
        by sleeping on the thread that runs it."""
        # Read between calls, never during one.
        return self._pending_begin is None and self._connection is not None and self._connection.in_transaction

    def may_write_here(self) -> bool:
        """Whether a one-row write may run on the calling thread: the database keeps a write-ahead log, and
        the current transaction holds SQLite's write lock (it began IMMEDIATE or EXCLUSIVE, or it has
        written), so another writer waits for it and it waits for nobody."""
        return self.in_wal_mode() and self.holds_its_locks() \
            and (self._begins_writing or not self._changed_nothing())

    def in_wal_mode(self) -> bool:
        """Whether the database keeps a write-ahead log, as csdesk sets it (a file system without shared
        memory keeps the rollback journal, where a commit waits for readers)."""
        if self._in_wal_mode is None:
            mode = self.sqlite_connection.execute("PRAGMA journal_mode").fetchone()[0]
            self._in_wal_mode = str(mode).lower() == "wal"
        return self._in_wal_mode

    async def commit(self) -> None:
        # A transaction that never ran a statement never began: there is nothing to commit.
        if self.take_begin() is None and self._may_be_in_transaction():
            if self._changed_nothing():
                self.sqlite_connection.commit()
            elif self._wrote_only_here() and self._next_commit_may_run_here():
                self._commit_without_checkpoint()
            else:
                await super().commit()

    def _wrote_only_here(self) -> bool:
        # Every row the transaction changed, it changed with one-row writes here (none on the thread).
        connection = self._connection
        return connection is not None and self._changes_here > 0 \
            and connection.total_changes - self._changes_at_begin == self._changes_here

    @classmethod
    def _next_commit_may_run_here(cls) -> bool:
        cls._commits_here += 1
        return cls._commits_here % CHECKPOINT_EVERY != 0

    def _commit_without_checkpoint(self) -> None:
        self._turn_off_here("wal_autocheckpoint")
        self.sqlite_connection.commit()

    async def rollback(self) -> None:
        # Outside a transaction SQLite has nothing to roll back; the pool asks anyway on every return.
        if self.take_begin() is None and self._may_be_in_transaction():
            if self._changed_nothing():
                self.sqlite_connection.rollback()
            else:
                await super().rollback()

    def _changed_nothing(self) -> bool:
        # Ending a transaction that wrote nothing only releases its read snapshot: it never waits or writes.
        return self._connection is not None and self._connection.total_changes == self._changes_at_begin

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection, for use between calls on the connection's thread (never during one)."""
        return self._conn

    def _may_be_in_transaction(self) -> bool:
        # Read between calls, never during one: SQLAlchemy awaits each call before it makes the next.
        # A closed connection says yes, so that aiosqlite reports the closed connection as it does.
        return self._connection is None or self._connection.in_transaction

    async def on_thread(self, function: Any) -> Any:
        """Run `function(sqlite3_connection)` on the connection's thread, as one hop."""
        return await self._execute(lambda: function(self._conn))

    async def statement_on_thread(self, sql: str, parameters: Any, *, begin: str | None) -> Outcome:
        """Run `sql`, after `begin` if given, on the connection's thread, as one hop."""
        return await self.on_thread(partial(_run, begin=begin, sql=sql, parameters=parameters))

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call aiosqlite runs on the connection's thread (statements, commits, closing) comes here:
        what the calling thread turned off (the busy timeout, the automatic checkpoint) is turned back on
        first, in the same hop, so that on the thread SQLite waits for locks and checkpoints as set."""
        restore = self._pragmas_to_restore()
        if restore:
            call = partial(fn, *args, **kwargs)

            def restored_then_called() -> Any:
                for pragma in restore:
                    self._conn.execute(pragma)
                return call()

            return await super()._execute(restored_then_called)
        return await super()._execute(fn, *args, **kwargs)

    def _pragmas_to_restore(self) -> list[str]:
        # Cleared here, on the calling thread, before the hop that restores them: calls on one connection
        # never overlap, so nothing runs here in between.
        if not self._off_here:
            return []
        assert self._as_set is not None
        restore = [f"PRAGMA {pragma} = {self._as_set[pragma]:d}" for pragma in sorted(self._off_here)]
        self._off_here = frozenset()
        return restore


def one_hop_connect(path: str) -> OneHopConnection:
    """An unopened connection to the SQLite file `path` (SQLAlchemy awaits it), as `aiosqlite.connect`
    makes one, with the same arguments SQLAlchemy's aiosqlite dialect passes."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    connection = OneHopConnection(connector, iter_chunk_size=64)
    # As SQLAlchemy does for aiosqlite: a forgotten connection must not keep the process alive.
    connection._thread.daemon = True
    return connection
