"""Health follows the data: events posted to a running server change an account's usage, and a running
`csdesk worker --watch` re-assesses that account (and no other) from the new usage."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.backends import fetch_rows
from tests.server.processes import CSDESK, csdesk_env, http_server, run_csdesk


def test_a_watch_worker_reassesses_the_account_whose_events_arrived(tmp_path: Path) -> None:
    db_path = tmp_path / "csdesk.db"
    env = csdesk_env(db_path, CSDESK_USER="morgan.lee@example.com", CSDESK_WATCH_POLL_SECONDS="0.2")
    env.pop("CSDESK_TODAY")  # live events arrive in real time; the assessments read as of now
    assert run_csdesk("demo", env=env).returncode == 0
    assert run_csdesk("run", env=env).returncode == 0
    key = run_csdesk("tokens", "create", "--ingest", "--name", "segment", env=env).stdout.strip()
    (account_id, domain), = fetch_rows(db_path, "SELECT id, domain FROM accounts ORDER BY id LIMIT 1")
    assessed_before = dict(fetch_rows(db_path, "SELECT account_id, count(*) FROM assessments GROUP BY account_id"))
    # Last month, seen live: one user and 12 events where the demo recorded a busy month.
    last_month = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0) - timedelta(days=10)
    events = [{"type": "group", "userId": "u1", "groupId": domain, "timestamp": last_month.isoformat()}]
    events += [{"type": "track", "userId": "u1", "event": "Login", "messageId": f"t{n}",
                "timestamp": (last_month + timedelta(minutes=n)).isoformat()} for n in range(12)]
    worker = subprocess.Popen([CSDESK, "worker", "--watch"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        with http_server(env) as server:
            answer = httpx.post(f"{server}/v1/batch", content=json.dumps({"batch": events}), auth=(key, ""),
                                headers={"Content-Type": "application/json"}, timeout=30)
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 60
            # Until the events are counted, the account marked, and the mark taken in by an assessment.
            while fetch_rows(db_path, f"SELECT count(*) FROM account_marks WHERE account_id = {account_id} AND "
                                      "pending_since IS NULL AND assessed_at IS NOT NULL")[0][0] == 0:
                assert worker.poll() is None and time.monotonic() < deadline, "the watch did not take the change in"
                time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGINT)
        output = worker.communicate(timeout=60)[0]
    assert "assessed 1 of 1 changed account(s)" in output
    assessed_after = dict(fetch_rows(db_path, "SELECT account_id, count(*) FROM assessments GROUP BY account_id"))
    assert assessed_after[account_id] == assessed_before[account_id] + 1
    assert {k: v for k, v in assessed_after.items() if k != account_id} == \
        {k: v for k, v in assessed_before.items() if k != account_id}, "no other account was re-assessed"
    (signals,), = fetch_rows(db_path, f"SELECT signals FROM assessments WHERE account_id = {account_id} "
                                      "ORDER BY id DESC LIMIT 1")
    signals = json.loads(signals) if isinstance(signals, str) else signals  # PostgreSQL's JSON arrives parsed
    evidence = " ".join(signal["evidence"] for signal in signals if signal["dimension"] == "usage")
    assert "(12 → " in evidence, "the month over month signal reads last month from the events"
    (lag,), = fetch_rows(db_path, f"SELECT lag_seconds FROM account_marks WHERE account_id = {account_id}")
    assert lag is not None and lag >= 0
