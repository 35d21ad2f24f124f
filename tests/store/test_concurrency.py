"""Racing writers: one wins, the other gets a conflict; nothing is lost silently."""

import asyncio

import pytest
from sqlalchemy import func, select

from store.crm.accounts import update_account
from store.crm.activity import add_health_note
from store.database.models import Account, HealthNote
from store.errors import Conflict
from tests.conftest import NOW, Db
from tests.factories import make_account


async def test_two_writers_with_the_same_version_one_wins_and_one_gets_a_conflict(db: Db) -> None:
    account = await make_account(db)
    both_read = asyncio.Event()
    readers = 0

    async def write(seats: int) -> int | Exception:
        nonlocal readers
        try:
            async with db.app.read_sessions() as session, session.begin():
                # Both writers hold version 1 before either writes: the lost-update race.
                readers += 1
                if readers == 2:
                    both_read.set()
                await asyncio.wait_for(both_read.wait(), timeout=10)
            async with db.write() as session:
                result = await update_account(session, principal=db.principals["ana"], now=NOW,
                                              account_id=account.id, expected_version=1, changes={"seats": seats})
                return result.seats
        except Conflict as exc:
            return exc

    outcomes = await asyncio.gather(write(10), write(20))
    winners = [outcome for outcome in outcomes if isinstance(outcome, int)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    async with db.read() as session:
        stored = await session.get(Account, account.id)
    assert (stored.seats, stored.version) == (winners[0], 2)


@pytest.mark.parametrize("writers", [8])
async def test_many_concurrent_note_writers_all_land(db: Db, writers: int) -> None:
    account = await make_account(db)

    async def write(index: int) -> None:
        async with db.write() as session:
            await add_health_note(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                  body=f"note {index}")

    await asyncio.gather(*(write(index) for index in range(writers)))
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(HealthNote)) == writers
