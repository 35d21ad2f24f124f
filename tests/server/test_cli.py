"""The csdesk command line, run as a user runs it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store.demo_portfolio import STORIES
from store.migrate import head_revision
from tests.server.processes import csdesk_env, run_csdesk

TABLES = ("users", "accounts", "contacts", "renewals", "tasks", "touchpoints", "health_notes", "usage_snapshots",
          "support_tickets", "survey_responses", "audit_events", "assessments", "notifications")


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_demo_seeds_a_realistic_portfolio_once_and_prints_the_retention_view(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = run_csdesk("demo", env=csdesk_env(db))
    counts = _counts(db)
    second = run_csdesk("demo", env=csdesk_env(db))

    assert first.returncode == 0, first.stderr
    assert "Seeded 80 accounts (and 5 lost in the past year) for 4 users" in first.stdout
    assert "Portfolio health on 2026-11-23" in first.stdout and "GRR" in first.stdout
    assert "Retention view on 2026-11-23" in first.stdout and "Renewals due in the next 90 days" in first.stdout
    assert second.returncode == 0 and "already holds 85 accounts; nothing was added" in second.stdout
    assert _counts(db) == counts
    # Four demo users and the assessment agent's own user.
    assert counts["accounts"] == 85 and counts["users"] == 5
    with sqlite3.connect(db) as connection:
        made = connection.execute("SELECT count(*) FROM assessments WHERE method = 'rules'").fetchone()[0]
        churned = connection.execute("SELECT count(*) FROM accounts WHERE status = 'churned'").fetchone()[0]
        churn_events = connection.execute("SELECT count(*) FROM revenue_events WHERE kind = 'churn'").fetchone()[0]
    assert made == 80 and churned == 5 and churn_events == 5
    assert "Needs attention first" in first.stdout and "skipped as unchanged │ 80" in second.stdout.replace("  ", "")
    with sqlite3.connect(db) as connection:
        owners = connection.execute("SELECT count(DISTINCT owner_id) FROM accounts").fetchone()[0]
        bands = {row[0] for row in connection.execute("SELECT health_status FROM accounts WHERE status = 'active'")}
        left = connection.execute("SELECT count(*) FROM contacts WHERE left_company_on IS NOT NULL").fetchone()[0]
        stalled = connection.execute("SELECT count(*) FROM accounts WHERE onboarding_status = 'stalled'").fetchone()[0]
        months = connection.execute(
            "SELECT count(DISTINCT substr(due_date, 1, 7)) FROM renewals WHERE stage = 'upcoming' "
            "OR stage LIKE 'in_%' OR stage IN ('proposal_sent', 'verbal_commit')").fetchone()[0]
    assert owners == 3
    assert bands == {"strongly_thriving", "actively_engaged", "neutral", "needs_attention", "at_risk"}
    assert left == round(dict(STORIES)["sponsor_left"] * 80) and stalled >= 1
    assert months >= 10, "renewals should spread over the next 12 months"


def test_the_database_path_is_configurable_and_db_upgrade_is_repeatable(tmp_path: Path) -> None:
    elsewhere = tmp_path / "nested" / "crm.db"
    elsewhere.parent.mkdir()
    env = csdesk_env(tmp_path / "unused.db")
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
    refused = run_csdesk("import", "accounts", str(accounts), env=env)
    skipped = run_csdesk("import", "accounts", str(accounts), "--skip-invalid", env=env)
    again = run_csdesk("import", "accounts", str(accounts), "--skip-invalid", env=env)
    missing = run_csdesk("import", "accounts", str(tmp_path / "nope.csv"), env=env)

    assert refused.returncode == 2
    assert "1 bad row(s); nothing was imported" in refused.stderr and "line 3: segment must be one of" in refused.stderr
    assert skipped.returncode == 0 and "accounts: 1 created" in skipped.stdout and "1 skipped" in skipped.stdout
    assert "accounts: 0 created, 0 updated, 1 already present" in again.stdout
    assert missing.returncode == 2 and "no such file" in missing.stderr
    with sqlite3.connect(tmp_path / "import.db") as connection:
        assert connection.execute("SELECT name FROM accounts").fetchall() == [("Acme Corp",)]


def test_every_command_has_help(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "help.db")
    for command in (["--help"], ["serve", "--help"], ["demo", "--help"], ["db", "upgrade", "--help"],
                    ["users", "add", "--help"], ["users", "list", "--help"], ["import", "accounts", "--help"],
                    ["import", "contacts", "--help"]):
        result = run_csdesk(*command, env=env)
        assert result.returncode == 0 and "Usage" in result.stdout, command
