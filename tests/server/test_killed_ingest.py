"""`csdesk serve --http` killed with SIGKILL while senders post batches: every batch that got 200 is stored,
and once the senders have retried what failed, every event is stored and counted exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.backends import fetch_rows
from tests.server.processes import CSDESK, csdesk_env, free_port, run_csdesk, wait_for_rollup, wait_until_healthy

SENDERS = 4
BATCHES = 30
EVENTS_PER_BATCH = 50
KILL_AFTER_ACKED = 25


def _start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([CSDESK, "serve", "--http", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
    return process


def test_a_killed_server_loses_no_acknowledged_batch_and_doubles_none(tmp_path: Path) -> None:
    db_path = tmp_path / "csdesk.db"
    env = csdesk_env(db_path, CSDESK_USER="morgan.lee@example.com")
    assert run_csdesk("demo", env=env).returncode == 0
    key = run_csdesk("tokens", "create", "--ingest", "--name", "segment", env=env).stdout.strip()
    (account_id, domain), = fetch_rows(db_path, "SELECT id, domain FROM accounts ORDER BY id LIMIT 1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/batch"
    server = _start(env, port)
    acked: list[tuple[int, int]] = []
    acked_before_kill: list[tuple[int, int]] = []
    lock = threading.Lock()
    killed = threading.Event()

    def send(sender: int) -> None:
        with httpx.Client(auth=(key, ""), timeout=10) as client:
            batches = [[{"type": "group", "userId": f"user-{sender}", "groupId": domain,
                         "messageId": f"group-{sender}"}]]
            batches += [[{"type": "track", "userId": f"user-{sender}", "event": f"feature-{n % 5}",
                          "messageId": f"{sender}-{b}-{n}"} for n in range(EVENTS_PER_BATCH)] for b in range(BATCHES)]
            for number, events in enumerate(batches):
                deadline = time.monotonic() + 60
                while True:
                    assert time.monotonic() < deadline, "the server did not come back"
                    try:
                        answer = client.post(url, content=json.dumps({"batch": events}),
                                             headers={"Content-Type": "application/json"})
                    except httpx.TransportError:
                        time.sleep(0.05)  # the server is down: retry, as Segment's libraries do
                        continue
                    if answer.status_code == 200:
                        with lock:
                            acked.append((sender, number))
                            if not killed.is_set():
                                acked_before_kill.append((sender, number))
                        break
                    assert answer.status_code >= 500, answer.text
                    time.sleep(0.05)

    threads = [threading.Thread(target=send, args=(sender,)) for sender in range(SENDERS)]
    for thread in threads:
        thread.start()
    while len(acked) < KILL_AFTER_ACKED:
        time.sleep(0.005)
    server.send_signal(signal.SIGKILL)
    killed.set()
    server.wait(timeout=30)
    assert len(acked_before_kill) < SENDERS * (BATCHES + 1), "the kill came after the senders had finished"
    stored_after_kill = fetch_rows(db_path, "SELECT message_id FROM product_events")
    ids = {row[0] for row in stored_after_kill}
    for sender, number in list(acked_before_kill):
        expected = f"group-{sender}" if number == 0 else f"{sender}-{number - 1}-0"
        assert expected in ids, f"batch {number} of sender {sender} got 200 and was lost"
    server = _start(env, port)
    try:
        for thread in threads:
            thread.join(timeout=120)
        assert len(acked) == SENDERS * (BATCHES + 1)
        wait_for_rollup(db_path)
    finally:
        server.terminate()
        server.wait(timeout=10)
    tracks = SENDERS * BATCHES * EVENTS_PER_BATCH
    assert fetch_rows(db_path, "SELECT count(*), count(DISTINCT message_id) FROM product_events") == \
        [(tracks + SENDERS, tracks + SENDERS)]
    usage = fetch_rows(db_path, "SELECT active_users, usage_count, features_adopted FROM usage_snapshots "
                                f"WHERE account_id = {account_id} AND running")
    assert usage == [(SENDERS, tracks, 5)], "every event counted once"
