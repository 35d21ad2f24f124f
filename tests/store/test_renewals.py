import asyncio
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from store.crm.renewals import add_months, list_renewals, update_renewal
from store.database.models import Account, AuditEvent, Renewal
from store.errors import Conflict, Forbidden, InvalidInput
from tests.conftest import NOW, TODAY, Db
from tests.factories import make_account


async def _renewal_id(db: Db, account_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(Renewal.id).where(Renewal.account_id == account_id))


async def test_changing_stage_and_forecast_bumps_the_version_and_is_audited(db: Db) -> None:
    account = await make_account(db, arr="100000")
    renewal_id = await _renewal_id(db, account.id)
    async with db.write() as session:
        renewal = await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                       expected_version=1, stage="proposal_sent", forecast_amount="95000")
    assert (renewal.stage, renewal.forecast_amount, renewal.version) == ("proposal_sent", Decimal("95000.00"), 2)
    async with db.read() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "renewal.update"))
    assert event.after == {"forecast_amount": "95000.00", "stage": "proposal_sent"}


async def test_a_renewal_loaded_before_a_move_reads_the_move_after_it(db: Db) -> None:
    account = await make_account(db, arr="100000")
    renewal_id = await _renewal_id(db, account.id)
    async with db.write() as session:
        loaded = await session.get(Renewal, renewal_id)
        assert loaded is not None and loaded.version == 1
        await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                             expected_version=1, forecast_amount="95000", notes="  champion left  ")
        assert (loaded.forecast_amount, loaded.notes, loaded.version) == (Decimal("95000.00"), "champion left", 2)
        moved = await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                     expected_version=2, stage="in_discussion")
    assert (moved.stage, moved.forecast_amount, moved.version) == ("in_discussion", Decimal("95000.00"), 3)


async def test_closing_won_sets_arr_rolls_the_renewal_date_and_opens_next_terms_renewal(db: Db) -> None:
    account = await make_account(db, arr="100000", renewal_date=date(2027, 1, 31))
    renewal_id = await _renewal_id(db, account.id)
    async with db.write() as session:
        renewal = await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                       expected_version=1, stage="closed_won", final_amount="110000")
    assert (renewal.booking_type, renewal.final_amount) == ("expansion", Decimal("110000.00"))
    async with db.read() as session:
        stored = await session.get(Account, account.id)
        upcoming = await session.scalar(select(Renewal).where(Renewal.account_id == account.id,
                                                              Renewal.stage == "upcoming"))
    assert (stored.arr, stored.renewal_date) == (Decimal("110000.00"), date(2028, 1, 31))
    assert (upcoming.due_date, upcoming.target_amount) == (date(2028, 1, 31), Decimal("110000.00"))


async def test_closing_lost_churns_the_account_and_closed_renewals_are_final(db: Db) -> None:
    account = await make_account(db)
    renewal_id = await _renewal_id(db, account.id)
    async with db.write() as session:
        renewal = await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                       expected_version=1, stage="closed_lost")
    assert (renewal.booking_type, renewal.final_amount) == ("churn", Decimal("0.00"))
    async with db.read() as session:
        stored = await session.get(Account, account.id)
    assert (stored.status, stored.churned_on) == ("churned", TODAY)
    with pytest.raises(Conflict, match="closed renewals are final"):
        async with db.write() as session:
            await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                 expected_version=2, stage="in_discussion")


@pytest.mark.parametrize(("changes", "message"), [
    ({"stage": "closed_won"}, "needs final_amount"),
    ({"final_amount": "5"}, "final_amount is set only when closing"),
    ({"stage": "won"}, "stage must be one of upcoming"),
    ({"forecast_amount": "1.001"}, "at most two decimals"),
    ({}, "nothing to update"),
])
async def test_bad_renewal_updates_change_nothing(db: Db, changes: dict, message: str) -> None:
    account = await make_account(db)
    renewal_id = await _renewal_id(db, account.id)
    with pytest.raises(InvalidInput, match=message):
        async with db.write() as session:
            await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                 expected_version=1, **changes)
    async with db.read() as session:
        assert (await session.get(Renewal, renewal_id)).version == 1


@pytest.mark.parametrize("change", [{"forecast_amount": "95000"}, {"stage": "closed_lost"}], ids=["move", "close"])
async def test_an_update_racing_another_writer_is_a_conflict_and_changes_nothing(db: Db, change: dict) -> None:
    """The other writer has changed the renewal but not committed when the move reads it: on PostgreSQL
    the move reads the old version and its guarded UPDATE waits for the row, then finds it changed; on
    SQLite the move waits for the write lock and reads the new version."""
    account = await make_account(db, arr="100000")
    renewal_id = await _renewal_id(db, account.id)
    changed = asyncio.Event()
    release = asyncio.Event()

    async def other_writer() -> None:
        async with db.write() as session:
            await session.execute(update(Renewal).where(Renewal.id == renewal_id)
                                  .values(forecast_amount=Decimal("1.00"), version=Renewal.version + 1)
                                  .execution_options(synchronize_session=False))
            changed.set()
            await release.wait()

    async def move() -> None:
        async with db.write() as session:
            await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                 expected_version=1, **change)

    other = asyncio.create_task(other_writer())
    await changed.wait()
    moving = asyncio.create_task(move())
    await asyncio.sleep(0.3)
    assert not moving.done()  # waiting for the other writer's row (PostgreSQL) or lock (SQLite)
    release.set()
    await other
    with pytest.raises(Conflict, match=f"renewal {renewal_id}"):
        await moving
    async with db.read() as session:
        stored = await session.get(Renewal, renewal_id)
        updates = await session.scalar(select(func.count()).select_from(AuditEvent)
                                       .where(AuditEvent.action == "renewal.update"))
        account_status = await session.scalar(select(Account.status).where(Account.id == account.id))
    assert (stored.forecast_amount, stored.stage, stored.version, updates) == (Decimal("1.00"), "upcoming", 2, 0)
    assert account_status == "active"


async def test_only_the_owner_or_a_manager_may_move_a_renewal(db: Db) -> None:
    account = await make_account(db, owner="ben")
    renewal_id = await _renewal_id(db, account.id)
    async with db.write() as session:
        with pytest.raises(Forbidden):
            await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal_id,
                                 expected_version=1, stage="in_discussion")
        with pytest.raises(Forbidden):
            await update_renewal(session, principal=db.principals["bot"], now=NOW, renewal_id=renewal_id,
                                 expected_version=1, stage="in_discussion")
        moved = await update_renewal(session, principal=db.principals["morgan"], now=NOW, renewal_id=renewal_id,
                                     expected_version=1, stage="in_discussion")
    assert moved.stage == "in_discussion"


async def test_the_pipeline_lists_open_renewals_due_in_the_window_with_overdue_ones(db: Db) -> None:
    await make_account(db, name="Soon", renewal_date=date(2026, 12, 10))
    await make_account(db, name="Later", renewal_date=date(2027, 9, 1))
    await make_account(db, name="Overdue", renewal_date=date(2026, 11, 1))
    await make_account(db, name="Bens", owner="ben", renewal_date=date(2026, 12, 1))
    async with db.read() as session:
        mine = await list_renewals(session, principal=db.principals["ana"], today=TODAY, owner="me")
        strict = await list_renewals(session, principal=db.principals["ana"], today=TODAY, include_overdue=False)
        everything = await list_renewals(session, principal=db.principals["ana"], today=TODAY, within_days=None)
    assert [(row.account_name, row.days_to_due) for row in mine.items] == [("Overdue", -22), ("Soon", 17)]
    assert [row.account_name for row in strict.items] == ["Bens", "Soon"]
    assert everything.total == 4


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2027, 1, 31), 1, date(2027, 2, 28)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 11, 23), 12, date(2027, 11, 23)),
    (date(2026, 3, 15), -3, date(2025, 12, 15)),
])
def test_adding_months_clamps_to_the_end_of_the_month(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected
