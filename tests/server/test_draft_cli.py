"""Reviewing and sending drafts from the terminal, as a reviewer without an AI client does."""

from __future__ import annotations

import re
from pathlib import Path

from tests.server.processes import csdesk_env, run_csdesk

MANAGER = "morgan.lee@example.com"
CSM = "ana.garcia@example.com"
REVIEWER = "riley.chen@example.com"  # the demo's reviewer


def test_a_reviewer_lists_shows_approves_edits_rejects_and_sends_from_the_terminal(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "drafts.db", CSDESK_OUTBOX_DIR=str(tmp_path / "outbox"))
    assert run_csdesk("demo", env=env).returncode == 0
    listed = run_csdesk("drafts", "list", "--as", MANAGER, env=env)
    ids = [int(match) for match in re.findall(r"^│ (\d+)\s", listed.stdout, flags=re.MULTILINE)]
    assert listed.returncode == 0 and len(ids) >= 3
    shown = run_csdesk("drafts", "show", str(ids[0]), "--as", REVIEWER, env=env)
    assert "Why: " in shown.stdout and "from the message template (no model configured)" in shown.stdout
    by_csm = run_csdesk("drafts", "approve", str(ids[0]), "--as", CSM, env=env)
    assert by_csm.returncode == 2 and "role 'csm' cannot approve drafts" in by_csm.stderr
    assert run_csdesk("drafts", "approve", str(ids[0]), "--as", REVIEWER, env=env).returncode == 0
    body = tmp_path / "body.txt"
    body.write_text("Hi there,\n\nA shorter note from us.\n\nBest regards", encoding="utf-8")
    edited = run_csdesk("drafts", "edit", str(ids[1]), "--body-file", str(body), "--approve", "--as", MANAGER,
                        env=env)
    rejected = run_csdesk("drafts", "reject", str(ids[2]), "--note", "Too generic", "--as", MANAGER, env=env)
    sent = run_csdesk("send", "--as", MANAGER, env=env)
    again = run_csdesk("send", "--as", MANAGER, env=env)
    assert "is now approved" in edited.stdout and "is now rejected" in rejected.stdout
    assert "sent 2 draft(s) through the outbox folder" in sent.stdout
    assert "sent 0 draft(s)" in again.stdout
    files = sorted(path.name for path in (tmp_path / "outbox").iterdir())
    assert files == [f"draft-{ids[0]}.eml", f"draft-{ids[1]}.eml"]
    assert "A shorter note from us." in (tmp_path / "outbox" / f"draft-{ids[1]}.eml").read_text()
    by_agent = run_csdesk("send", "--as", "assessment-agent@csdesk.invalid", env=env)
    assert by_agent.returncode == 2 and "role 'agent' cannot send drafts" in by_agent.stderr


def test_every_drafts_command_acts_as_the_user_given_with_as_and_says_how_when_none_is(tmp_path: Path) -> None:
    env = csdesk_env(tmp_path / "as.db")
    assert run_csdesk("demo", env=env).returncode == 0
    for command in ("list", "show", "approve", "reject", "edit"):
        assert "--as" in run_csdesk("drafts", command, "--help", env=env).stdout, command
    for args in (("list",), ("show", "1"), ("approve", "1")):
        answer = run_csdesk("drafts", *args, env=env)
        assert answer.returncode == 2, answer
        assert "no user given: pass --as EMAIL or set CSDESK_USER" in answer.stderr, answer.stderr
    shown = run_csdesk("drafts", "show", "1", "--as", CSM, env=env)
    assert shown.returncode == 0 and shown.stdout.startswith("Draft 1 ")
    nobody = run_csdesk("drafts", "show", "1", "--as", "nobody@example.com", env=env)
    assert nobody.returncode == 2 and "nobody@example.com is not a csdesk user" in nobody.stderr
