"""The README's quick start and "Connect your assistant" shell examples run as written on the demo.

Each command of those sections' `sh` blocks runs in a fresh directory that holds the project's
virtualenv, Makefile and pyproject (so `./csdesk.db` and `$PWD/csdesk.db` are that directory's own).
A command that needs something outside csdesk is named with the reason it is not run here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.backends import MAIN_BACKEND
from tests.server.processes import plain_env

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("## Quick start", "## Connect your assistant")
INSPECTOR = "@modelcontextprotocol/inspector"
# Commands not run here, by their first words, and why.
NOT_RUN = {
    "make test": "it is the suite this test belongs to",
    "claude mcp add": "it changes Claude Code's own configuration (Claude Code is an outside client)",
}

pytestmark = pytest.mark.skipif(MAIN_BACKEND != "sqlite",
                                reason="the README's examples use the SQLite default; the SQLite pass runs them")


def readme_commands() -> list[str]:
    """The shell commands of the README's sections, in order, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands: list[str] = []
    for title in SECTIONS:
        section = text.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
            commands += [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return commands


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out as the checkout a user runs the README in, with its own (empty) data."""
    where = tmp_path_factory.mktemp("checkout")
    (where / ".venv").symlink_to(ROOT / ".venv")
    for name in ("Makefile", "pyproject.toml"):  # copy2 keeps the times, so make sees .venv up to date
        shutil.copy2(ROOT / name, where / name)
    return where


def _inspector_installed() -> bool:
    found = subprocess.run(["npm", "ls", "--global", "--depth=0", INSPECTOR], capture_output=True, text=True) \
        if shutil.which("npm") else None
    return found is not None and found.returncode == 0


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=plain_env(), capture_output=True, text=True,
                          timeout=600)


def test_the_readme_sections_hold_the_commands_this_test_knows() -> None:
    firsts = [" ".join(command.split()[:3]) for command in readme_commands()]
    assert firsts[:2] == ["make demo #", "make test #"]
    assert sum(first.startswith("npx") for first in firsts) == 2
    assert any(first.startswith(".venv/bin/csdesk serve --http") for first in firsts)


def test_every_shell_example_runs_as_written_on_the_demo(checkout: Path) -> None:
    token = ""
    ran, not_run = [], {}
    for command in readme_commands():
        reason = next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)
        if command.startswith("npx ") and not _inspector_installed():
            if os.environ.get("CSDESK_TEST_REQUIRE_INSPECTOR"):
                pytest.fail(f"CSDESK_TEST_REQUIRE_INSPECTOR is set but {INSPECTOR} is not installed (npm -g)")
            reason = f"{INSPECTOR} is not installed (npm install --global {INSPECTOR})"
        if reason:
            not_run[command] = reason
            continue
        if " serve --http" in command:
            with _serving(command, checkout) as base_url:
                _check_http(base_url, token)
        else:
            done = _run(command, checkout)
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
            _check_output(command, done.stdout)
            if " tokens create " in command:
                token = done.stdout.strip()
        ran.append(command)
    assert ran and all(command.split()[0] in {"make", "npx", ".venv/bin/csdesk"} for command in ran), ran
    assert set(not_run.values()) <= {*NOT_RUN.values(), f"{INSPECTOR} is not installed (npm install --global "
                                                        f"{INSPECTOR})"}, not_run


def _check_output(command: str, stdout: str) -> None:
    if command.startswith("make demo"):
        assert "Retention view on" in stdout and "csdesk drafts list --as riley.chen@example.com" in stdout
    elif "--method tools/list" in command:
        names = {tool["name"] for tool in json.loads(stdout)["tools"]}
        assert {"list_accounts", "get_account", "draft_touchpoint"} <= names
    elif "--method tools/call" in command:
        answer = json.loads(stdout)
        assert not answer.get("isError"), answer
        page = answer["structuredContent"]
        assert 1 <= len(page["items"]) <= 5 and {row["owner"] for row in page["items"]} == {"ana.garcia@example.com"}
    elif " tokens create " in command:
        assert stdout.strip().startswith("csd_")


def _check_http(base_url: str, token: str) -> None:
    assert token, "the README creates a token before it serves over HTTP"
    health = httpx.get(f"{base_url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "readme", "version": "1"}}}
    headers = {"Accept": "application/json, text/event-stream", "Host": "cs.example.com"}
    refused = httpx.post(f"{base_url}/mcp", json=initialize, headers=headers, timeout=10)
    accepted = httpx.post(f"{base_url}/mcp", json=initialize, timeout=10,
                          headers={**headers, "Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and accepted.status_code == 200, (refused.text, accepted.text)
    assert '"serverInfo"' in accepted.text


@contextmanager
def _serving(command: str, cwd: Path) -> Iterator[str]:
    """The command running, until its /healthz answers on its port; stopped afterwards."""
    port = int(re.search(r"--port (\d+)", command).group(1))  # type: ignore[union-attr]
    process = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=plain_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer within a minute"
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
