"""A cycle killed with SIGKILL at random points, then run to completion, ends where an uninterrupted
cycle ends: same health on every account, one assessment each, and no duplicate task, notification
or draft."""

from __future__ import annotations

import random
from pathlib import Path

from server.context import open_app
from store.clock import FixedClock
from store.demo.portfolio import seed_demo_portfolio
from tests.backends import fetch_rows, settings_for_file
from tests.conftest import NOW, TODAY
from tests.server.processes import csdesk_env, kill_when, run_csdesk

ACCOUNTS = 600
KILLS = 3


async def _seed(path: Path) -> None:
    async with open_app(settings_for_file(path), clock=FixedClock(NOW)) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=ACCOUNTS)


def _agent_assessments(path: Path) -> int:
    return fetch_rows(path, "SELECT count(*) FROM assessments WHERE method LIKE 'rules/%'")[0][0]


def _kill_after(path: Path, written_at_least: int) -> int:
    """Start a cycle and SIGKILL it once it has written `written_at_least` more assessments."""
    before = _agent_assessments(path)
    kill_when(["run"], csdesk_env(path), lambda: _agent_assessments(path) - before >= written_at_least,
              what="cycle")
    return _agent_assessments(path) - before


def _state(path: Path) -> dict[str, object]:
    def rows(sql: str) -> list[tuple]:
        return sorted(fetch_rows(path, sql))

    return {
        "health": rows("SELECT id, health_status, health_score, health_trend, churn_risk_reason FROM accounts"),
        "assessments per account": rows("SELECT account_id, count(*) FROM assessments WHERE method LIKE 'rules/%' "
                                        "GROUP BY account_id"),
        "tasks": rows("SELECT dedupe_key, account_id, assignee_id, title, due_date FROM tasks "
                      "WHERE source = 'playbook'"),
        "notifications": rows("SELECT dedupe_key, user_id, account_id, kind FROM notifications"),
        "drafts": rows("SELECT dedupe_key, account_id, kind, to_email, subject, body, status FROM drafts"),
        "audited assessments": rows("SELECT count(*) FROM audit_events WHERE action = 'assessment.create'"),
    }


async def test_a_cycle_killed_at_random_points_then_finished_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    calm, killed = tmp_path / "calm.db", tmp_path / "killed.db"
    await _seed(calm)
    await _seed(killed)
    assert run_csdesk("run", env=csdesk_env(calm)).returncode == 0
    rng = random.Random(20261124)
    progress = [_kill_after(killed, rng.randint(1, ACCOUNTS // (KILLS + 1))) for _ in range(KILLS)]
    finished = run_csdesk("run", env=csdesk_env(killed))
    assert finished.returncode == 0, finished.stderr
    assert all(written >= 1 for written in progress) and sum(progress) < ACCOUNTS, progress
    assert _state(killed) == _state(calm)
    statuses = [row[0] for row in fetch_rows(killed, "SELECT status FROM agent_runs ORDER BY id")]
    # The killed cycles never got to record an ending; the last one completed.
    assert statuses[-1] == "completed" and len(statuses) == KILLS + 1
