"""An import killed with SIGKILL at random points, then run again, ends where an uninterrupted import
ends: the same rows, none twice, and every row's write audited once."""

from __future__ import annotations

import json
import random
from pathlib import Path

from server.context import open_app
from store.clock import FixedClock
from store.demo.portfolio import seed_demo_portfolio
from tests.backends import fetch_rows, settings_for_file
from tests.conftest import NOW, TODAY
from tests.server.processes import csdesk_env, kill_when, run_csdesk

ACCOUNTS = 300
MONTHS = 100  # 2015-01 to 2023-04: 30,000 rows, six chunks of 5,000
KILLS = 2  # each after one or two chunks: some of the file, never all of it
MANAGER = "morgan.lee@example.com"


async def _seed(path: Path) -> None:
    async with open_app(settings_for_file(path), clock=FixedClock(NOW)) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=ACCOUNTS)


def _usage_file(folder: Path, database: Path) -> Path:
    path = folder / "usage.csv"
    names = [name for (name,) in fetch_rows(database, "SELECT name FROM accounts WHERE status = 'active'")]
    lines = ["account,period,active_users,usage_count"]
    lines += [f'"{name}",{2015 + month // 12}-{month % 12 + 1:02d},{month + 3},{month * 7}'
              for name in sorted(names) for month in range(MONTHS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _chunks_written(path: Path) -> int:
    return fetch_rows(path, "SELECT count(*) FROM audit_events WHERE action = 'import.usage'")[0][0]


def _kill_after(path: Path, usage: Path, chunks: int) -> None:
    """Start the import and SIGKILL it once it has committed `chunks` more chunks."""
    before = _chunks_written(path)
    kill_when(["import", "usage", str(usage), "--as", MANAGER], csdesk_env(path),
              lambda: _chunks_written(path) - before >= chunks, what="import")


def _usage(path: Path) -> list[tuple]:
    return sorted(fetch_rows(path, "SELECT account_id, period_start, active_users, usage_count, features_adopted "
                                   "FROM usage_snapshots"))


async def test_an_import_killed_at_random_points_then_finished_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    calm, killed = tmp_path / "calm.db", tmp_path / "killed.db"
    await _seed(calm)
    await _seed(killed)
    usage = _usage_file(tmp_path, calm)
    assert run_csdesk("import", "usage", str(usage), "--as", MANAGER, env=csdesk_env(calm)).returncode == 0
    rng = random.Random(20261206)
    for _ in range(KILLS):
        _kill_after(killed, usage, rng.randint(1, 2))
    in_file = len(usage.read_text(encoding="utf-8").splitlines()) - 1
    cut_short = len([row for row in _usage(killed) if str(row[1]) < "2024-01-01"])
    finished = run_csdesk("import", "usage", str(usage), "--as", MANAGER, env=csdesk_env(killed))
    assert finished.returncode == 0, finished.stderr
    assert _usage(killed) == _usage(calm)
    audits = [json.loads(after) if isinstance(after, str) else after for (after,) in fetch_rows(
        killed, "SELECT after FROM audit_events WHERE action = 'import.usage'")]
    imported = [row for row in _usage(killed) if str(row[1]) < "2024-01-01"]
    # Each row was written once, by one of the runs, and that run's chunk audited it.
    assert len(imported) == in_file and sum(audit["inserted"] for audit in audits) == in_file
    assert 0 < cut_short < in_file, "the killed runs committed some chunks, not all, before they died"
