"""Running the real `csdesk` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from server.settings import Settings
from tests.backends import database_env, fetch_rows

CSDESK = str(Path(sys.executable).parent / "csdesk")
DEMO_MANAGER = "morgan.lee@example.com"
DEMO_REVIEWER = "riley.chen@example.com"
DEMO_CSM = "ana.garcia@example.com"


def plain_env(**extra: str) -> dict[str, str]:
    """This process's environment without any csdesk setting, on the tests' pinned date, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CSDESK_")}
    env.update({"CSDESK_TODAY": "2026-11-23", **extra})
    return env


def csdesk_env(db_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a `csdesk` process on the database a test calls `db_path` (that SQLite file,
    or its PostgreSQL stand-in when the suite runs on PostgreSQL)."""
    return plain_env(**database_env(db_path), **extra)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a `csdesk` process on the database `settings` name."""
    where = {"CSDESK_DATABASE_URL": settings.database_url} if settings.database_url else \
        {"CSDESK_DB_PATH": str(settings.db_path)}
    return plain_env(**where, **extra)


def run_csdesk(*args: str, env: dict[str, str], cwd: Path | None = None,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CSDESK, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=120)


def kill_when(args: list[str], env: dict[str, str], done: Callable[[], bool], *, what: str) -> None:
    """Run `csdesk ARGS` and SIGKILL it as soon as `done()` holds (or it ends by itself)."""
    process = subprocess.Popen([CSDESK, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and not done():
        assert time.monotonic() < deadline, f"the {what} made no progress"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen[str], *, timeout: float = 30.0) -> None:
    """Block until the server answers its health check, or fail with its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server at {url} not healthy after {timeout}s")


@contextmanager
def http_server(env: dict[str, str]) -> Iterator[str]:
    """`csdesk serve --http` on a free port, healthy; yields its base URL and stops it afterwards."""
    port = free_port()
    process = subprocess.Popen([CSDESK, "serve", "--http", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_rollup(db_path: Path) -> None:
    """Until the server's roll-up has counted every stored product event (it runs every half second)."""
    deadline = time.monotonic() + 30
    while fetch_rows(db_path, "SELECT count(*) FROM product_events WHERE state = 0")[0][0]:
        assert time.monotonic() < deadline, "the roll-up did not count the stored events"
        time.sleep(0.05)


def seeded_demo(path: Path) -> Path:
    """A database at `path` holding the demo portfolio, as `make demo` leaves it."""
    result = run_csdesk("demo", env=csdesk_env(path))
    assert result.returncode == 0, result.stderr
    return path


def demo_tokens(path: Path, *, name: str) -> dict[str, str]:
    """A fresh API token for the demo's CSM, manager and reviewer, by those words."""
    env = csdesk_env(path)
    made = {who: run_csdesk("tokens", "create", "--user", email, "--name", name, env=env).stdout.strip()
            for who, email in (("csm", DEMO_CSM), ("manager", DEMO_MANAGER), ("reviewer", DEMO_REVIEWER))}
    assert all(token.startswith("csd_") for token in made.values()), made
    return made
