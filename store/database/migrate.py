"""Schema migrations, run from code: `csdesk db upgrade`, and automatically by the server and demo."""

from __future__ import annotations

import asyncio
import functools
import weakref

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "store.database:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this version of csdesk."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head"
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind `engine` up to `revision` (the newest by default).

    A database already at the newest revision is left untouched without entering Alembic, whose
    command state is process-global: servers starting side by side in one process must not run it at
    once, so the upgrades that do run here take turns.
    """
    if revision == "head" and await current_revision(engine) == head_revision():
        return

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with _upgrade_lock(), engine.begin() as connection:
        await connection.run_sync(run)


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _upgrade_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
