"""The /v1 ingestion API of a real `csdesk serve --http`, driven by Segment's and RudderStack's own Python
libraries and by raw HTTP: events land once, bad requests get Segment's statuses and store nothing, and
write keys and API tokens cannot stand in for each other."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.backends import fetch_rows
from tests.server.processes import DEMO_CSM, csdesk_env, http_server, run_csdesk, wait_for_rollup

MANAGER = "morgan.lee@example.com"


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db_path = tmp_path / "csdesk.db"
    env = csdesk_env(db_path, CSDESK_USER=MANAGER)
    assert run_csdesk("demo", env=env).returncode == 0
    return db_path, env


@pytest.fixture
def server(seeded: tuple[Path, dict[str, str]]) -> Iterator[str]:
    with http_server(seeded[1]) as url:
        yield url


def _key(env: dict[str, str], *extra: str) -> str:
    created = run_csdesk("tokens", "create", "--name", f"key-{uuid.uuid4().hex[:6]}", *extra, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def _account(db_path: Path) -> tuple[int, str]:
    (row,) = fetch_rows(db_path, "SELECT id, domain FROM accounts ORDER BY id LIMIT 1")
    return row[0], row[1]


def _count(db_path: Path, sql: str) -> int:
    return fetch_rows(db_path, sql)[0][0]


def _events(db_path: Path) -> int:
    return _count(db_path, "SELECT count(*) FROM product_events")


@pytest.mark.parametrize("library", [SegmentClient, RudderClient], ids=["segment", "rudderstack"])
def test_the_libraries_deliver_identify_group_and_track_calls(seeded: tuple[Path, dict[str, str]], server: str,
                                                              library: type) -> None:
    db_path, env = seeded
    account_id, domain = _account(db_path)
    errors: list[Any] = []
    client = library(write_key=_key(env, "--ingest"), host=server, gzip=True, max_retries=1,
                     on_error=lambda error, _batch: errors.append(error))
    user = f"user-{library.__module__.split('.')[0]}"
    client.identify(user, {"email": "someone@" + domain})
    client.group(user, domain, {"name": "their account"})
    for number in range(30):
        client.track(user, "Report Exported" if number % 2 else "Dashboard Viewed", {"n": number})
    client.page(user, "Docs", "Getting started")
    client.flush()
    client.join()
    assert errors == []
    wait_for_rollup(db_path)
    assert _count(db_path, f"SELECT count(*) FROM product_events WHERE user_key = '{user}'") == 33
    (usage,) = fetch_rows(db_path, "SELECT active_users, usage_count, features_adopted FROM usage_snapshots "
                                   f"WHERE account_id = {account_id} AND running")
    assert usage == (1, 31, 2), "30 track calls and a page view by one user, using two features"
    assert _count(db_path, f"SELECT count(*) FROM account_marks WHERE account_id = {account_id} "
                           "AND pending_since IS NOT NULL") == 1


def _post(server: str, body: bytes | str, *, key: str | None, endpoint: str = "batch",
          headers: dict[str, str] | None = None) -> httpx.Response:
    auth = (key, "") if key is not None else None
    return httpx.post(f"{server}/v1/{endpoint}", content=body, auth=auth, timeout=30,
                      headers={"Content-Type": "application/json", **(headers or {})})


def _batch(*events: dict[str, Any]) -> str:
    return json.dumps({"batch": list(events)})


def test_bad_requests_get_segments_status_with_the_reason_and_store_nothing(seeded: tuple[Path, dict[str, str]],
                                                                            server: str) -> None:
    db_path, env = seeded
    key = _key(env, "--ingest")
    good = {"type": "track", "userId": "u1", "event": "Login"}
    cases: list[tuple[str, bytes | str, dict[str, str], int, str]] = [
        ("malformed JSON", '{"batch": [', {}, 400, "not JSON"),
        ("no user", _batch({"type": "track", "event": "Login"}), {}, 400, "needs a userId or an anonymousId"),
        ("a number as id", _batch({**good, "userId": 7}), {}, 400, "userId must be a non-empty string"),
        ("far future", _batch({**good, "timestamp": "2099-01-01T00:00:00Z"}), {}, 400, "in the future"),
        ("ten years ago", _batch({**good, "timestamp": "2016-12-01T00:00:00Z"}), {}, 400, "more than two years ago"),
        ("unknown type", _batch({**good, "type": "purchase"}), {}, 400, "is not one of"),
        ("event over 32 KB", _batch({**good, "properties": {"x": "y" * 33_000}}), {}, 400, "at most 32 KB"),
        ("10,000 events", _batch(*[{"type": "track", "userId": "u", "event": "e"}] * 10_000), {}, 400,
         "at most 2,500 events"),
        ("batch over 500 KB", _batch(*[{**good, "properties": {"x": "y" * 20_000}}] * 30), {}, 413, "500 KB"),
        ("gzip bomb", gzip.compress(_batch(*[{**good, "properties": {"x": "y" * 30_000}}] * 40).encode()),
         {"Content-Encoding": "gzip"}, 413, "once decompressed"),
        ("not gzip", b"plain", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        ("good and bad together", _batch(good, {"type": "track", "userId": "u1"}), {}, 400, "batch[1]"),
    ]
    for what, body, headers, status, reason in cases:
        answer = _post(server, body, key=key, headers=headers)
        assert answer.status_code == status, (what, answer.text)
        assert reason in answer.json()["message"], (what, answer.text)
    wrong_endpoint = _post(server, json.dumps({"type": "identify", "userId": "u1"}), key=key, endpoint="track")
    assert wrong_endpoint.status_code == 400
    assert _events(db_path) == 0, "a refused request stores nothing"
    status = json.loads(run_csdesk("events", "status", "--json", env=env).stdout)
    assert status["rejected_requests"] >= len(cases) - 2, "refusals with a valid key are on record"


def test_write_keys_and_api_tokens_cannot_stand_in_for_each_other(seeded: tuple[Path, dict[str, str]],
                                                                 server: str) -> None:
    db_path, env = seeded
    key = _key(env, "--ingest")
    api_token = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "laptop", env=env).stdout.strip()
    body = _batch({"type": "track", "userId": "u1", "event": "Login"})
    for what, candidate in (("no key", None), ("unknown key", "csd_not-a-real-key"), ("an API token", api_token)):
        answer = _post(server, body, key=candidate)
        assert answer.status_code == 401, (what, answer.text)
    assert "write key" in _post(server, body, key=api_token).json()["message"]
    # The write key reads nothing: not /mcp, not the review page.
    mcp = httpx.post(f"{server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                     headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"})
    assert mcp.status_code == 401
    with httpx.Client(base_url=server) as browser:
        form = browser.get("/review/login")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post("/review/login", data={"token": key, "csrf": csrf})
        assert signed_in.status_code == 401
    assert _events(db_path) == 0
    # Accepted from the body too, as the Segment spec allows; then revoked, refused.
    assert _post(server, json.dumps({"batch": [{"type": "track", "userId": "u1", "event": "Login"}],
                                     "writeKey": key}), key=None).status_code == 200
    token_id = next(line.split()[0] for line in run_csdesk("tokens", "list", env=env).stdout.splitlines()
                    if " ingest " in line)
    assert run_csdesk("tokens", "revoke", token_id, env=env).returncode == 0
    assert _post(server, body, key=key).status_code == 401
    assert _events(db_path) == 1


def test_a_request_from_another_host_or_a_browser_origin_is_refused(seeded: tuple[Path, dict[str, str]],
                                                                   server: str) -> None:
    key = _key(seeded[1], "--ingest")
    body = _batch({"type": "track", "userId": "u1", "event": "Login"})
    assert _post(server, body, key=key, headers={"Host": "evil.example"}).status_code == 421
    assert _post(server, body, key=key, headers={"Origin": "https://evil.example"}).status_code == 403
    assert _events(seeded[0]) == 0


def test_healthz_shows_the_feeds_status_to_a_manager_only(seeded: tuple[Path, dict[str, str]], server: str) -> None:
    env = seeded[1]
    key = _key(env, "--ingest")
    assert _post(server, _batch({"type": "track", "userId": "u1", "event": "Login"}), key=key).status_code == 200
    wait_for_rollup(seeded[0])
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    manager = run_csdesk("tokens", "create", "--user", MANAGER, "--name", "ops", env=env).stdout.strip()
    csm = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "laptop", env=env).stdout.strip()
    details = httpx.get(f"{server}/healthz", headers={"Authorization": f"Bearer {manager}"}).json()
    assert details["events"]["received"] == 1 and details["events"]["unmapped_users"] == 1
    for other in (csm, key):
        assert httpx.get(f"{server}/healthz", headers={"Authorization": f"Bearer {other}"}).status_code == 403


def test_the_events_commands_say_what_they_did_and_refuse_what_they_cannot(seeded: tuple[Path, dict[str, str]],
                                                                         server: str) -> None:
    db_path, env = seeded
    key = _key(env, "--ingest")
    events = [{"type": "group", "userId": "u1", "groupId": "crm-77"},
              {"type": "track", "userId": "u1", "event": "Login"}]
    assert _post(server, _batch(*events), key=key).status_code == 200
    wait_for_rollup(db_path)
    status = json.loads(run_csdesk("events", "status", "--json", env=env).stdout)
    assert status["unmapped_groups"] == [{"group_id": "crm-77", "users": 1}]
    assert status["activity_awaiting_account"] == 1
    assert "names no account" in run_csdesk("events", "status", env=env).stdout
    account_id, _ = _account(db_path)
    (name,), = fetch_rows(db_path, f"SELECT name FROM accounts WHERE id = {account_id}")
    imported = run_csdesk("import", "accounts", "-", "--as", MANAGER, env=env,
                          stdin=f"name,external_id\n{name},crm-77\n")
    assert imported.returncode == 0, imported.stderr
    since = str(fetch_rows(db_path, "SELECT min(occurred_at) FROM product_events")[0][0])[:7] + "-01"
    rebuilt = run_csdesk("events", "rebuild", "--since", since, env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 user(s) moved account" in rebuilt.stdout
    assert fetch_rows(db_path, f"SELECT usage_count FROM usage_snapshots WHERE account_id = {account_id} "
                               "AND running") == [(1,)]
    too_old = run_csdesk("events", "rebuild", "--since", "2020-01-01", env=env)
    assert too_old.returncode == 2 and "can be rebuilt" in too_old.stderr
    not_a_date = run_csdesk("events", "rebuild", "--since", "last week", env=env)
    assert not_a_date.returncode == 2 and "must be a date like 2026-11-01" in not_a_date.stderr
    assert run_csdesk("events", "prune", env=env).stdout.strip() == "pruned 0 events"


def test_a_write_key_needs_a_user_to_answer_for_it(seeded: tuple[Path, dict[str, str]]) -> None:
    env = {k: v for k, v in seeded[1].items() if k != "CSDESK_USER"}
    refused = run_csdesk("tokens", "create", "--ingest", "--name", "segment", env=env)
    assert refused.returncode == 2 and "--user or CSDESK_USER" in refused.stderr


def test_a_webhook_destination_posts_single_events_to_v1_event(seeded: tuple[Path, dict[str, str]],
                                                              server: str) -> None:
    db_path, env = seeded
    key = _key(env, "--ingest")
    for event in ({"type": "identify", "userId": "u9", "traits": {"email": "x@example.com"}},
                  {"type": "track", "userId": "u9", "event": "Login"}):
        assert _post(server, json.dumps(event), key=key, endpoint="event").status_code == 200
    assert _post(server, json.dumps({"userId": "u9"}), key=key, endpoint="event").status_code == 400
    assert _post(server, "{}", key=key, endpoint="nope").status_code == 404
    assert _events(db_path) == 2
