from pathlib import Path

from sqlalchemy import inspect

from store.database.engine import create_engine, sqlite_url
from store.database.migrate import current_revision, head_revision, upgrade
from store.database.models import Base
from tests.backends import url_for_file


async def test_upgrade_from_an_empty_database_creates_every_table_at_the_head_revision(tmp_path: Path) -> None:
    engine = create_engine(url_for_file(tmp_path / "empty.db"))
    assert await current_revision(engine) is None

    await upgrade(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    await engine.dispose()


async def test_upgrading_twice_is_a_no_op(tmp_path: Path) -> None:
    engine = create_engine(url_for_file(tmp_path / "twice.db"))
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    await engine.dispose()


async def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url_for_file(tmp_path / "diff.db"))
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


async def test_upgrading_an_existing_crm_rebuilds_its_revenue_history(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from sqlalchemy import Numeric, bindparam, text

    engine = create_engine(url_for_file(tmp_path / "history.db"))
    await upgrade(engine, "0004")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(text(
            "INSERT INTO users (id, email, name, role, active, created_at) "
            "VALUES (1, 'ana@example.com', 'Ana', 'csm', :active, :stamp)"), {"active": True, "stamp": stamp})
        for account_id, arr, start, status, churned in (
                (1, Decimal("120000.00"), date(2024, 6, 1), "active", None),
                (2, Decimal("30000.00"), date(2025, 3, 1), "churned", date(2026, 2, 20)),
                (3, Decimal("9000.00"), None, "active", None)):
            await connection.execute(text(
                "INSERT INTO accounts (id, name, name_lower, owner_id, segment, lifecycle_stage, arr, currency, "
                "seats, contract_start, onboarding_status, status, churned_on, created_at, updated_at, version) "
                "VALUES (:id, :name, :lower, 1, 'smb', 'mature', :arr, 'USD', 5, :start, 'completed', :status, "
                ":churned, :stamp, :stamp, 1)").bindparams(bindparam("arr", type_=Numeric(14, 2))),
                {"id": account_id, "name": f"A{account_id}", "lower": f"a{account_id}", "arr": arr, "start": start,
                 "status": status, "churned": churned, "stamp": stamp})
        await connection.execute(text(
            "INSERT INTO renewals (id, account_id, owner_id, due_date, currency, target_amount, forecast_amount, "
            "final_amount, stage, booking_type, closed_on, created_at, updated_at, version) VALUES "
            "(1, 1, 1, :due, 'USD', 100000, 100000, 120000, 'closed_won', 'expansion', :closed, :stamp, :stamp, 1)"),
            {"due": date(2025, 6, 1), "closed": date(2025, 5, 20), "stamp": stamp})
    await upgrade(engine)
    async with engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT account_id, occurred_on, kind, arr_before, arr_after, renewal_id FROM revenue_events "
            "ORDER BY account_id, id"))).all()
    await engine.dispose()
    # SQLite hands dates back as text and PostgreSQL as dates: compare their ISO form.
    assert [(account, str(on), kind, int(before), int(after), renewal)
            for account, on, kind, before, after, renewal in rows] == [
        (1, "2024-06-01", "new", 0, 100000, None), (1, "2025-05-20", "expansion", 100000, 120000, 1),
        (2, "2025-03-01", "new", 0, 30000, None), (2, "2026-02-20", "churn", 30000, 0, None),
        (3, "2026-01-01", "new", 0, 9000, None),
    ]
