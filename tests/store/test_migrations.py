from pathlib import Path

from sqlalchemy import inspect

from store.db import create_engine, sqlite_url
from store.migrate import current_revision, head_revision, upgrade
from store.models import Base


async def test_upgrade_from_an_empty_database_creates_every_table_at_the_head_revision(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(str(tmp_path / "empty.db")))
    assert await current_revision(engine) is None

    await upgrade(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    await engine.dispose()


async def test_upgrading_twice_is_a_no_op(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(str(tmp_path / "twice.db")))
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    await engine.dispose()


async def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(sqlite_url(str(tmp_path / "diff.db")))
    await upgrade(engine)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    await engine.dispose()
    assert diff == []


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = create_engine(sqlite_url(str(tmp_path / "wal.db")))
    async with engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
    await engine.dispose()
    assert (mode, timeout, foreign_keys) == ("wal", 5000, 1)
