"""Shared fixtures: a migrated database per test (SQLite file, and PostgreSQL when configured),
a pinned clock, seeded users, and real MCP clients."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import build_server
from server.context import AppContext, open_app
from server.settings import Settings
from store.auth.principals import Principal
from store.auth.users import add_user, principal_for
from store.clock import FixedClock
from store.database.engine import create_engine, sqlite_url
from store.database.migrate import upgrade
from store.database.models import Base
from tests import backends
from tests.agents.fake_openai import FakeOpenAI
from tests.backends import MAIN_BACKEND, POSTGRES_URL, REQUIRE_POSTGRES

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USERS = {
    "ana": ("ana@example.com", "Ana Garcia", "csm"),
    "ben": ("ben@example.com", "Ben Okafor", "csm"),
    "morgan": ("morgan@example.com", "Morgan Lee", "manager"),
    "riley": ("riley@example.com", "Riley Chen", "reviewer"),
    "root": ("root@example.com", "Ada Admin", "admin"),
    "bot": ("agent@example.com", "Assessment Agent", "agent"),
}
if (_problem := backends.check_configuration()) is not None:
    raise pytest.UsageError(_problem)


@pytest.fixture(scope="session", autouse=True)
def _drop_file_databases() -> Iterator[None]:
    """Drop the PostgreSQL databases that stood in for SQLite files, once the session ends."""
    yield
    backends.drop_databases()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        engine = create_engine(sqlite_url(str(path)))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture(scope="session")
def postgres_database() -> str | None:
    """A fresh, migrated PostgreSQL database for this test session, or None when not configured."""
    if not POSTGRES_URL:
        return None
    name = f"csdesk_test_{uuid.uuid4().hex[:10]}"

    async def create() -> str:
        await backends.execute_admin(f'CREATE DATABASE "{name}"')
        url = backends.url_of(name)
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        return url

    try:
        url = asyncio.run(create())
    except OSError as exc:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL at CSDESK_TEST_POSTGRES_URL is unreachable: {exc}")
    yield url

    asyncio.run(backends.execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_settings(tmp_path: Path, migrated_sqlite_template: Path) -> Settings:
    path = tmp_path / "csdesk.db"
    shutil.copy(migrated_sqlite_template, path)
    return Settings(db_path=path, user=USERS["ana"][0], today=TODAY)


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


def fresh_postgres_or_skip(request: pytest.FixtureRequest, what: str) -> str:
    """The session's PostgreSQL database, emptied; a skip with the reason when none is configured (a
    failure when CI requires one)."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("CSDESK_TEST_REQUIRE_POSTGRES is set but CSDESK_TEST_POSTGRES_URL is not")
        pytest.skip(f"set CSDESK_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run "
                    f"{what} on PostgreSQL")
    url = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate_postgres(url))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Settings:
    """Settings for each database backend; the PostgreSQL run skips with a reason when none is configured."""
    if request.param == "sqlite":
        return sqlite_settings
    url = fresh_postgres_or_skip(request, "the store suite")
    return Settings(database_url=url, user=USERS["ana"][0], today=TODAY)


@pytest.fixture
def main_settings(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Settings:
    """The suite's main database: a SQLite file, or the emptied PostgreSQL database when
    CSDESK_TEST_BACKEND=postgres (CI runs the whole suite both ways)."""
    if MAIN_BACKEND == "sqlite":
        return sqlite_settings
    url = fresh_postgres_or_skip(request, "the suite")
    return Settings(database_url=url, user=USERS["ana"][0], today=TODAY)


@dataclass
class Db:
    """A migrated database with the test users, and helpers to act on it as one of them."""

    app: AppContext
    principals: dict[str, Principal]

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self.app.write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.app.read_sessions() as session, session.begin():
            yield session


async def _open_db(settings: Settings) -> AsyncIterator[Db]:
    async with open_app(settings, migrate=False, clock=FixedClock(NOW)) as app:
        principals = {}
        async with app.write_sessions() as session, session.begin():
            for email, name, role in USERS.values():
                await add_user(session, email=email, name=name, role=role, now=NOW)
        async with app.read_sessions() as session:
            for key, (email, _name, _role) in USERS.items():
                principals[key] = await principal_for(session, email=email)
        yield Db(app=app, principals=principals)


@pytest.fixture
async def db(backend_settings: Settings) -> AsyncIterator[Db]:
    """The store on each backend (SQLite always; PostgreSQL when configured)."""
    async for opened in _open_db(backend_settings):
        yield opened


@pytest.fixture
async def main_db(main_settings: Settings) -> AsyncIterator[Db]:
    """The store on the suite's main database."""
    async for opened in _open_db(main_settings):
        yield opened


ClientFactory = Callable[[str], AbstractAsyncContextManager[Client]]


@pytest.fixture
def connect(main_db: Db, main_settings: Settings) -> ClientFactory:
    """Open an in-memory MCP client acting as one of the test users (by key: "ana", "morgan", …)."""

    @asynccontextmanager
    async def open_client(user: str, *, mode: str = "auto") -> AsyncIterator[Client]:
        settings = main_settings.model_copy(update={"user": USERS[user][0]})
        async with Client(build_server(settings, clock=FixedClock(NOW)), mode=mode) as client:
            yield client

    return open_client


@pytest.fixture(autouse=True)
def refuse_real_model_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk only to a model server on this machine: never to a real, paid endpoint."""
    from agents import llm

    original = llm.OpenAICompatibleModel.__init__

    def guarded(self: llm.OpenAICompatibleModel, settings: llm.ModelSettings) -> None:
        host = settings.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        assert host in {"127.0.0.1", "localhost"}, f"tests must not call a real model endpoint ({settings.base_url})"
        original(self, settings)

    monkeypatch.setattr(llm.OpenAICompatibleModel, "__init__", guarded)
    for variable in ("CSDESK_LLM_MODEL", "CSDESK_LLM_BASE_URL", "CSDESK_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The hostile-model suite's figures: attacks tried, attacks that reached review unflagged, false rejections."""
    from tests.agents import grounding_report

    if grounding_report.LINES:
        terminalreporter.section("grounding against a careless or hostile model")
        for line in grounding_report.LINES:
            terminalreporter.write_line(line)
