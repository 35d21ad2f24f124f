"""The csdesk command line, run as a user runs it."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from store.database.migrate import head_revision
from store.demo.portfolio import STORIES
from tests.backends import fetch_rows
from tests.server.processes import csdesk_env, plain_env, run_csdesk

TABLES = ("users", "accounts", "contacts", "renewals", "tasks", "touchpoints", "health_notes", "usage_snapshots",
          "support_tickets", "survey_responses", "audit_events", "assessments", "notifications")


def _counts(path: Path) -> dict[str, int]:
    return {table: _one(path, f"SELECT count(*) FROM {table}") for table in TABLES}


def _one(path: Path, sql: str) -> object:
    return fetch_rows(path, sql)[0][0]


def test_demo_seeds_a_realistic_portfolio_once_and_prints_the_retention_view(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = run_csdesk("demo", env=csdesk_env(db))
    counts = _counts(db)
    second = run_csdesk("demo", env=csdesk_env(db))

    assert first.returncode == 0, first.stderr
    assert "Seeding accounts" in first.stdout and "85/85" in first.stdout, "seeding shows its progress"
    assert "Seeding accounts" not in second.stdout
    assert "Seeded 80 accounts (and 5 lost in the past year) for 5 users" in first.stdout
    assert "Portfolio health on 2026-11-23" in first.stdout and "GRR" in first.stdout
    assert "Retention view on 2026-11-23" in first.stdout and "Renewals due in the next 90 days" in first.stdout
    assert second.returncode == 0 and "already holds 85 accounts; nothing was added" in second.stdout
    assert _counts(db) == counts
    # Five demo users and the assessment agent's own user.
    assert counts["accounts"] == 85 and counts["users"] == 6
    # Who can review the drafts, and how, is said where the demo ends.
    assert "csdesk drafts list --as riley.chen@example.com" in first.stdout
    assert "csdesk tokens create --user riley.chen@example.com --name browser" in first.stdout
    assert "http://127.0.0.1:8765/review" in first.stdout
    made = _one(db, "SELECT count(*) FROM assessments WHERE method LIKE 'rules/%'")
    churned = _one(db, "SELECT count(*) FROM accounts WHERE status = 'churned'")
    churn_events = _one(db, "SELECT count(*) FROM revenue_events WHERE kind = 'churn'")
    assert made == 80 and churned == 5 and churn_events == 5
    assert "Needs attention first" in first.stdout and "skipped as unchanged │ 80" in second.stdout.replace("  ", "")
    owners = _one(db, "SELECT count(DISTINCT owner_id) FROM accounts")
    bands = {row[0] for row in fetch_rows(db, "SELECT health_status FROM accounts WHERE status = 'active'")}
    left = _one(db, "SELECT count(*) FROM contacts WHERE left_company_on IS NOT NULL")
    stalled = _one(db, "SELECT count(*) FROM accounts WHERE onboarding_status = 'stalled'")
    due_dates = fetch_rows(db, "SELECT due_date FROM renewals WHERE stage = 'upcoming' OR stage LIKE 'in_%' "
                               "OR stage IN ('proposal_sent', 'verbal_commit')")
    months = len({str(due)[:7] for (due,) in due_dates})
    assert owners == 3
    assert bands == {"strongly_thriving", "actively_engaged", "neutral", "needs_attention", "at_risk"}
    assert left == round(dict(STORIES)["sponsor_left"] * 80) and stalled >= 1
    assert months >= 10, "renewals should spread over the next 12 months"


def test_the_database_path_is_configurable_and_db_upgrade_is_repeatable(tmp_path: Path) -> None:
    elsewhere = tmp_path / "nested" / "crm.db"
    elsewhere.parent.mkdir()
    # `--db` names a SQLite file (whichever database the rest of the suite runs on) and wins over the setting.
    env = plain_env(CSDESK_DB_PATH=str(tmp_path / "unused.db"))
    first = run_csdesk("--db", str(elsewhere), "db", "upgrade", env=env)
    second = run_csdesk("--db", str(elsewhere), "db", "upgrade", env=env)
    assert first.returncode == 0 and second.returncode == 0
    assert f"is at schema revision {head_revision()}" in second.stdout
    assert elsewhere.exists() and not (tmp_path / "unused.db").exists()


def test_users_add_and_list(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "users.db")
    added = run_csdesk("users", "add", "Kai@Example.com", "--name", "Kai Mensah", "--role", "reviewer", env=env)
    duplicate = run_csdesk("users", "add", "kai@example.com", "--name", "Kai", env=env)
    bad_role = run_csdesk("users", "add", "x@example.com", "--name", "X", "--role", "boss", env=env)
    listed = run_csdesk("users", "list", env=env)
    assert added.returncode == 0 and "created kai@example.com (reviewer)" in added.stdout
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    assert bad_role.returncode == 2 and "role must be one of csm, manager, reviewer, admin, agent" in bad_role.stderr
    assert "kai@example.com" in listed.stdout and "x@example.com" not in listed.stdout


def test_import_reports_bad_rows_imports_nothing_and_skip_invalid_imports_the_rest(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "import.db", CSDESK_USER="lee@example.com")
    assert run_csdesk("users", "add", "lee@example.com", "--name", "Lee", "--role", "manager", env=env).returncode == 0
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,segment,arr,owner_email,renewal_date\n"
                        "Acme Corp,enterprise,250000,lee@example.com,2027-03-31\n"
                        "Initech,huge,10,lee@example.com,\n", encoding="utf-8")
    refused = run_csdesk("import", "accounts", str(accounts), "--create-missing", env=env)
    skipped = run_csdesk("import", "accounts", str(accounts), "--skip-invalid", "--create-missing", env=env)
    again = run_csdesk("import", "accounts", str(accounts), "--skip-invalid", env=env)
    missing = run_csdesk("import", "accounts", str(tmp_path / "nope.csv"), env=env)

    assert refused.returncode == 2
    assert "1 bad row(s); nothing was imported" in refused.stderr and "line 3: segment must be one of" in refused.stderr
    assert skipped.returncode == 0 and "accounts from accounts.csv: 1 inserted" in skipped.stdout
    assert "1 rejected" in skipped.stdout and "rejected line 3: segment must be one of" in skipped.stderr
    assert "accounts from accounts.csv: 0 inserted, 0 updated, 1 unchanged, 1 rejected" in again.stdout
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert fetch_rows(tmp_path / "import.db", "SELECT name FROM accounts") == [("Acme Corp",)]


def test_version_completion_and_json_listings(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "habits.db")
    shown = run_csdesk("--version", env=env)
    assert shown.returncode == 0 and shown.stdout.strip() == f"csdesk {version('csdesk')}"
    helped = run_csdesk("--help", env=env)
    assert "--install-completion" in helped.stdout and "--show-completion" in helped.stdout
    assert run_csdesk("users", "add", "kai@example.com", "--name", "Kai", "--role", "reviewer", env=env).returncode == 0
    created = run_csdesk("tokens", "create", "--user", "kai@example.com", "--name", "laptop", env=env)
    assert created.returncode == 0 and created.stdout.startswith("csd_")

    users = json.loads(run_csdesk("users", "list", "--json", env=env).stdout)
    listed_tokens = run_csdesk("tokens", "list", "--json", env=env).stdout
    tokens = json.loads(listed_tokens)
    runs = json.loads(run_csdesk("runs", "--json", env=env).stdout)
    drafts = json.loads(run_csdesk("drafts", "list", "--json", "--as", "kai@example.com", env=env).stdout)
    assert [(user["email"], user["role"]) for user in users] == [("kai@example.com", "reviewer")]
    assert [(token["user"], token["name"]) for token in tokens] == [("kai@example.com", "laptop")]
    assert created.stdout.strip() not in listed_tokens, "a token's value is never listed"
    assert runs == [] and drafts == []
    assert run_csdesk("run", env=env).returncode == 0
    runs = json.loads(run_csdesk("runs", "--json", env=env).stdout)
    assert [(run["status"], run["accounts"]) for run in runs] == [("completed", 0)]


def test_a_bad_sender_domain_setting_is_a_clear_error_that_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "csdesk.db"
    done = run_csdesk("db", "upgrade", env=csdesk_env(db, CSDESK_SENDER_DOMAINS='["example.com", "not a domain"]'))
    assert done.returncode != 0
    assert "CSDESK_SENDER_DOMAINS: domain must be a host name like acme.com; got 'not a domain'" in done.stderr
    assert not db.exists()


def test_signals_import_from_a_file_or_standard_input_with_a_dry_run_first(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "signals.db", CSDESK_USER="lee@example.com")
    assert run_csdesk("users", "add", "lee@example.com", "--name", "Lee", "--role", "manager", env=env).returncode == 0
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,segment,arr,domain\nAcme Corp,enterprise,250000,acme.com\n", encoding="utf-8")
    assert run_csdesk("import", "accounts", str(accounts), "--create-missing", env=env).returncode == 0
    usage = "account,period,active_users,usage_count\nacme.com,2026-10,40,900\nacme.com,2026-11,38,850\n"
    dry = run_csdesk("import", "usage", "-", "--dry-run", env=env, stdin=usage)
    done = run_csdesk("import", "usage", "-", env=env, stdin=usage)
    again = run_csdesk("import", "usage", "-", env=env, stdin=usage)
    bad = run_csdesk("import", "tickets", "-", env=env, stdin="account,ticket_id\nacme.com,1\n")

    assert dry.returncode == 0, dry.stderr
    assert "usage from standard input: 2 would be inserted, 0 would be updated, 0 unchanged, 0 rejected; accounts " \
           "found by domain 2 (dry run: nothing was written)" in dry.stdout
    assert "2 inserted, 0 updated, 0 unchanged" in done.stdout and "0 inserted, 0 updated, 2 unchanged" in again.stdout
    assert bad.returncode == 2 and "missing columns: opened_at" in bad.stderr
    assert fetch_rows(tmp_path / "signals.db", "SELECT count(*) FROM usage_snapshots") == [(2,)]


def test_exports_load_through_a_shipped_map_and_a_map_for_another_kind_is_refused(tmp_path: Path) -> None:
    samples = Path(__file__).parent.parent / "samples"
    env = csdesk_env(tmp_path / "maps.db", CSDESK_USER="morgan@example.com")
    assert run_csdesk("users", "add", "morgan@example.com", "--name", "Morgan", "--role", "manager",
                      env=env).returncode == 0
    assert run_csdesk("users", "add", "ana@example.com", "--name", "Ana Garcia", "--role", "csm",
                      env=env).returncode == 0
    companies = run_csdesk("import", "accounts", str(samples / "hubspot-companies.csv"), "--map",
                           "hubspot-companies", "--create-missing", env=env)
    tickets = run_csdesk("import", "tickets", str(samples / "zendesk-tickets.csv"), "--map", "zendesk-tickets",
                         env=env)
    wrong = run_csdesk("import", "usage", str(samples / "zendesk-tickets.csv"), "--map", "zendesk-tickets", env=env)
    renamed = run_csdesk("import", "usage", "-", "--column", "account=Company", "--column", "period=Month", env=env,
                         stdin="Company,Month,active_users,usage_count\nAcme Corp,2026-10,5,50\n")

    assert companies.returncode == 0, companies.stderr
    assert "accounts from hubspot-companies.csv: 2 inserted" in companies.stdout
    assert "tickets from zendesk-tickets.csv: 3 inserted" in tickets.stdout
    assert wrong.returncode == 2 and "the map zendesk-tickets is for tickets, not usage" in wrong.stderr
    assert "usage from standard input: 1 inserted" in renamed.stdout, renamed.stderr
    assert fetch_rows(tmp_path / "maps.db", "SELECT name, owner_id FROM accounts ORDER BY name") == [
        ("Acme Corp", 2), ("Globex", 2)]


def test_bad_settings_are_named_without_a_traceback(tmp_path: Path) -> None:
    moved = run_csdesk("runs", env=csdesk_env(tmp_path / "s.db", CSDESK_THRESHOLDS__OUTBOUND_WARN_DAYS="21"))
    bad = run_csdesk("runs", env=csdesk_env(tmp_path / "s.db", CSDESK_SENDER_DOMAINS='["not a domain!"]'))
    assert moved.returncode == 2 and "Traceback" not in moved.stderr
    assert "CSDESK_THRESHOLDS__OUTBOUND_WARN_DAYS: thresholds now live in the health model file: put them under " \
           "[thresholds]" in moved.stderr
    assert bad.returncode == 2 and "setting sender_domains: CSDESK_SENDER_DOMAINS: domain must be a host name" \
        in bad.stderr
