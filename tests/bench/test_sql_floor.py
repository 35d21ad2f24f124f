"""The raw-SQL floor (bench/sql_floor.py) replays the statements a tool sends, doing their full work. Rolled
back, it leaves the data as it was; a write's statements were captured from a committed call, whose
version-guarded UPDATE, replayed, found no row at the version it had read: the floor skipped the write.
A write's committed floor moves its row on with every replay, as the tool's calls do."""

from __future__ import annotations

import itertools
import sqlite3
from functools import partial

from bench.latency import _rolled_back, committed_floor
from bench.portfolio import CSM, NOW, TODAY
from bench.questions import in_process, pick_targets
from bench.sql_floor import SqliteReplay, Statement, capture
from bench.timing import WARMUP
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.demo.portfolio import seed_demo_portfolio

MOVE = "UPDATE renewals"


async def test_a_writes_floor_replays_its_update_on_the_row_the_call_changed(sqlite_settings: Settings) -> None:
    async with open_app(sqlite_settings, clock=FixedClock(NOW)) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=120)
        targets = await pick_targets(app, CSM)
        await in_process(app, "update_renewal", targets, CSM, CSM, 0)  # the timed calls before the capture
        version = targets.renewal_version
        committed = await capture(app, partial(in_process, app, "update_renewal", targets, CSM, CSM, 1))
        rolled_back = await capture(app, partial(_rolled_back, app, "update_renewal", targets, 2))
        assert targets.renewal_version == version + 1  # the rolled-back call moved nothing on
    path = str(sqlite_settings.db_path)
    with sqlite3.connect(path) as probe:
        before = probe.execute("SELECT version, forecast_amount FROM renewals WHERE id = ?",
                               (targets.renewal_id,)).fetchone()
        audit_rows = probe.execute("SELECT count(*) FROM audit_events").fetchone()
    assert before[0] == version + 1
    assert _rows_moved(path, committed) == 0  # what the floor used to replay
    assert _rows_moved(path, rolled_back) == 1
    replay = SqliteReplay(path)
    try:
        replay.run(rolled_back)
    finally:
        replay.close()
    with sqlite3.connect(path) as probe:
        assert probe.execute("SELECT version, forecast_amount FROM renewals WHERE id = ?",
                             (targets.renewal_id,)).fetchone() == before
        assert probe.execute("SELECT count(*) FROM audit_events").fetchone() == audit_rows


def _rows_moved(path: str, statements: list[Statement]) -> int:
    """The rows the statements' renewal UPDATE changes, in a transaction rolled back as the floor's is."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        moved = 0
        for statement in statements:
            cursor = connection.execute(statement.sql, statement.parameters)
            if statement.sql.startswith(MOVE):
                moved += cursor.rowcount
        connection.execute("ROLLBACK")
        return moved
    finally:
        connection.close()


async def test_a_writes_committed_floor_moves_the_row_on_with_every_replay(sqlite_settings: Settings) -> None:
    async with open_app(sqlite_settings, clock=FixedClock(NOW)) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=120)
        targets = await pick_targets(app, CSM)
        version = targets.renewal_version
        path = str(sqlite_settings.db_path)
        with sqlite3.connect(path) as probe:
            audit_rows = probe.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        replay = SqliteReplay(path)
        try:
            timing = await committed_floor(app, "update_renewal", targets, replay, itertools.count(), 3)
        finally:
            replay.close()
    replays = WARMUP + 3
    assert timing.calls == 3 and timing.p50_ms > 0
    assert targets.renewal_version == version + replays
    with sqlite3.connect(path) as probe:
        # Each replay's guarded UPDATE found its row (else the version would have stopped), and committed.
        assert probe.execute("SELECT version FROM renewals WHERE id = ?", (targets.renewal_id,)).fetchone() == \
               (version + replays,)
        assert probe.execute("SELECT count(*) FROM audit_events").fetchone()[0] == audit_rows + replays
