"""`csdesk run` and `csdesk worker` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.agent_commands import parse_interval
from server.context import open_app
from store.database.models import AgentRun
from store.errors import InvalidInput
from store.runs.process_identity import this_machine
from tests.backends import fetch_rows, run_blocking, settings_for_file
from tests.server.processes import CSDESK, csdesk_env, run_csdesk


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_run_assesses_once_and_a_second_run_skips_everything(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "run.db")
    assert run_csdesk("demo", env=env).returncode == 0
    forced = run_csdesk("run", "--force", env=env)
    again = run_csdesk("run", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "Assessing with the rules engine (no model configured" in forced.stdout
    assert "assessed 80" in _flat(forced.stdout) and "tasks created 0" in _flat(forced.stdout)
    assert "skipped as unchanged 80" in _flat(again.stdout) and "assessed 0" in _flat(again.stdout)
    runs = fetch_rows(tmp_path / "run.db", "SELECT status FROM agent_runs ORDER BY id")
    assert runs == [("completed",), ("completed",), ("completed",)]
    # The record, newest first: the unchanged re-run, the forced one, the demo's.
    shown = run_csdesk("runs", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = [_flat(line) for line in shown.stdout.splitlines() if line.startswith("│")]
    assert [row.split()[0] for row in rows] == ["3", "2", "1"]
    assert [" ".join(row.split()[5:8]) for row in rows] == ["0 of 80", "80 of 80", "80 of 80"]
    assert all(row.endswith("completed") for row in rows)
    refused = run_csdesk("runs", "--limit", "0", env=env)
    assert refused.returncode == 2 and "--limit" in refused.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_the_worker_runs_a_cycle_and_stops_cleanly_on_a_signal(tmp_path: Path, stop_signal: int) -> None:
    env = csdesk_env(tmp_path / "worker.db")
    assert run_csdesk("demo", env=env).returncode == 0
    worker = subprocess.Popen([CSDESK, "worker", "--every", "1m"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        output = ""
        while "Next cycle in" not in output:
            assert time.monotonic() < deadline and worker.poll() is None, output
            output += worker.stdout.readline()
        worker.send_signal(stop_signal)
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    assert "skipped as unchanged" in output and "worker stopped" in worker.stderr.read()


@pytest.mark.parametrize("text", ["soon", "0m", "30s", "1 week"])
def test_a_bad_interval_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_interval(text)


def test_intervals_parse() -> None:
    assert [parse_interval(text).total_seconds() for text in ("90s", "30m", "1h", "1d")] == [90, 1800, 3600, 86400]


def test_runs_shows_a_run_whose_process_ended_and_the_next_run_records_it(tmp_path: Path) -> None:
    path = tmp_path / "ended.db"
    env = csdesk_env(path)
    assert run_csdesk("demo", env=env).returncode == 0
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()  # a run's process that ended without closing its run, here on this machine

    async def open_a_run_for_it() -> None:
        async with open_app(settings_for_file(path)) as app, app.write_sessions() as session, session.begin():
            now = datetime.now(UTC)
            session.add(AgentRun(kind="assessment", started_at=now, status="running", heartbeat_at=now,
                                 machine=this_machine(), pid=killed.pid))

    run_blocking(open_a_run_for_it())
    shown = run_csdesk("runs", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"its process ({killed.pid})" in _flat(shown.stdout) and "has ended" in _flat(shown.stdout)
    assert run_csdesk("run", env=env).returncode == 0
    assert fetch_rows(path, f"SELECT status FROM agent_runs WHERE pid = {killed.pid}") == [("interrupted",)]
    assert "has ended" not in _flat(run_csdesk("runs", env=env).stdout)
