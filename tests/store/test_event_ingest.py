"""Product events into usage: stored once, rolled up per account and month, counted late for users whose
group call comes after their activity, rebuilt after a mapping changes, and accounts marked for the watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from store.crm.contacts import upsert_contact
from store.database.models import AccountMark, ProductEvent, ProductUser, UsageSnapshot
from store.errors import InvalidInput
from store.events.ingest import store_events
from store.events.messages import check_request
from store.events.retention import prune, rebuild
from store.events.rollup import RolledUp, roll_up_pending
from store.runs.account_marks import claim_marked, finish_marked, mark_accounts
from tests.conftest import NOW, Db
from tests.factories import make_account

NOVEMBER = date(2026, 11, 1)


@dataclass
class Sent:
    stored: int
    duplicates: int
    rolled: RolledUp


async def _send(db: Db, *events: dict[str, Any], at: datetime = NOW) -> Sent:
    """Store a batch as the server does, then run a roll-up pass."""
    messages = check_request({"batch": list(events)}, endpoint="batch", received_at=at)
    async with db.write() as session:
        stored = await store_events(session, messages, token_id=None, received_at=at)
    async with db.write() as session:
        rolled = await roll_up_pending(session, now=at)
    return Sent(stored=stored.stored, duplicates=stored.duplicates, rolled=rolled)


def _track(user: str, event: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "messageId": message_id, **extra}


def _group(user: str, group_id: str, message_id: str) -> dict[str, Any]:
    return {"type": "group", "userId": user, "groupId": group_id, "messageId": message_id}


async def _usage(db: Db, account_id: int) -> dict[date, tuple[int, int, int, bool]]:
    async with db.read() as session:
        rows = await session.execute(select(UsageSnapshot).where(UsageSnapshot.account_id == account_id))
        return {row.period_start: (row.active_users, row.usage_count, row.features_adopted, row.running)
                for (row,) in rows}


async def test_activity_rolls_up_into_the_accounts_month(db: Db) -> None:
    acme = await make_account(db, name="Acme", domain="acme.example", external_id="crm-1")
    other = await make_account(db, name="Globex", domain="globex.example")
    done = await _send(db, _group("u1", "crm-1", "g1"), _group("u2", "crm-1", "g2"),
                       _group("u3", "globex.example", "g3"),
                       _track("u1", "Report Exported", "t1"), _track("u1", "Report Exported", "t2"),
                       _track("u2", "Dashboard Viewed", "t3"),
                       {"type": "page", "userId": "u3", "name": "Home", "messageId": "p1"})
    assert (done.stored, done.rolled.counted, done.rolled.waiting, done.duplicates) == (7, 4, 0, 0)
    assert await _usage(db, acme.id) == {NOVEMBER: (2, 3, 2, True)}
    assert await _usage(db, other.id) == {NOVEMBER: (1, 1, 0, True)}, "a page view is activity, not a feature"
    assert done.rolled.accounts == {acme.id, other.id}


async def test_a_resent_batch_counts_once(db: Db) -> None:
    acme = await make_account(db, name="Acme", external_id="crm-1")
    batch = (_group("u1", "crm-1", "g1"), _track("u1", "Login", "t1"), _track("u1", "Login", "t1"))
    first = await _send(db, *batch)
    again = await _send(db, *batch, at=NOW + timedelta(seconds=30))
    assert (first.stored, first.duplicates) == (2, 1), "a messageId twice in one batch is one event"
    assert (again.stored, again.duplicates, again.rolled.counted) == (0, 3, 0)
    assert await _usage(db, acme.id) == {NOVEMBER: (1, 1, 1, True)}
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(ProductEvent)) == 2


async def test_activity_before_the_group_call_is_counted_when_it_arrives(db: Db) -> None:
    acme = await make_account(db, name="Acme", external_id="crm-1")
    early = await _send(db, _track("u1", "Login", "t1", timestamp="2026-10-20T09:00:00Z"),
                        _track("u1", "Export", "t2"))
    assert (early.rolled.counted, early.rolled.waiting, early.rolled.accounts) == (0, 2, set())
    assert await _usage(db, acme.id) == {}
    late = await _send(db, _group("u1", "crm-1", "g1"), at=NOW + timedelta(minutes=5))
    assert late.rolled.counted == 2 and late.rolled.accounts == {acme.id}
    assert await _usage(db, acme.id) == {date(2026, 10, 1): (1, 1, 1, False), NOVEMBER: (1, 1, 1, True)}
    again = await _send(db, _group("u1", "crm-1", "g2"), at=NOW + timedelta(minutes=6))
    assert again.rolled.counted == 0, "a second group call counts nothing again"


async def test_identify_attaches_the_user_to_the_accounts_contact(db: Db) -> None:
    acme = await make_account(db, name="Acme", external_id="crm-1")
    async with db.write() as session:
        contact = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=acme.id,
                                       name="Dana Diaz", email="dana@acme.example", role="champion")
    await _send(db, {"type": "identify", "userId": "u1", "traits": {"email": "DANA@acme.example"}, "messageId": "i1"},
                _group("u1", "crm-1", "g1"))
    async with db.read() as session:
        user = await session.get(ProductUser, "u1")
    assert (user.account_id, user.contact_id, user.email) == (acme.id, contact.id, "dana@acme.example")


async def test_an_unknown_group_is_kept_and_a_rebuild_counts_it_once_the_account_has_the_id(db: Db) -> None:
    acme = await make_account(db, name="Acme")
    await _send(db, _group("u1", "crm-1", "g1"), _track("u1", "Login", "t1"), _track("u1", "Export", "t2"))
    assert await _usage(db, acme.id) == {}
    async with db.write() as session:
        from store.database.models import Account
        (await session.get(Account, acme.id)).external_id = "crm-1"
    async with db.write() as session:
        rebuilt = await rebuild(session, since=NOVEMBER, now=NOW, kept_from=NOW - timedelta(days=90))
    assert (rebuilt.users_remapped, rebuilt.events, rebuilt.accounts) == (1, 2, {acme.id})
    assert await _usage(db, acme.id) == {NOVEMBER: (1, 2, 2, True)}
    async with db.write() as session:
        twice = await rebuild(session, since=NOVEMBER, now=NOW, kept_from=NOW - timedelta(days=90))
    assert twice.events == 2 and await _usage(db, acme.id) == {NOVEMBER: (1, 2, 2, True)}, "a rebuild is repeatable"


async def test_a_rebuild_moves_usage_with_a_user_who_moved_account(db: Db) -> None:
    old = await make_account(db, name="Old Co", external_id="old")
    new = await make_account(db, name="New Co", external_id="new")
    await _send(db, _group("u1", "old", "g1"), _track("u1", "Login", "t1"))
    await _send(db, _group("u1", "new", "g2"), at=NOW + timedelta(minutes=1))
    assert await _usage(db, old.id) == {NOVEMBER: (1, 1, 1, True)}, "a move alone leaves counted usage where it is"
    async with db.write() as session:
        rebuilt = await rebuild(session, since=NOVEMBER, now=NOW, kept_from=NOW - timedelta(days=90))
    assert rebuilt.accounts == {old.id, new.id}
    assert await _usage(db, old.id) == {NOVEMBER: (0, 0, 0, True)}
    assert await _usage(db, new.id) == {NOVEMBER: (1, 1, 1, True)}


async def test_a_rebuild_refuses_months_whose_events_are_no_longer_kept(db: Db) -> None:
    async with db.write() as session:
        with pytest.raises(InvalidInput, match="months from 2026-09-01 on can be rebuilt"):
            await rebuild(session, since=date(2026, 6, 1), now=NOW, kept_from=datetime(2026, 8, 25, tzinfo=UTC))
        with pytest.raises(InvalidInput, match="in the future"):
            await rebuild(session, since=date(2027, 1, 1), now=NOW, kept_from=NOW - timedelta(days=90))


async def test_pruning_deletes_old_events_and_keeps_their_usage(db: Db) -> None:
    acme = await make_account(db, name="Acme", external_id="crm-1")
    await _send(db, _group("u1", "crm-1", "g1"), _track("u1", "Login", "t1"), at=NOW - timedelta(days=100))
    await _send(db, _track("u1", "Login", "t2"))
    async with db.write() as session:
        assert await prune(session, before=NOW - timedelta(days=90)) == 2
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(ProductEvent)) == 1
    assert len(await _usage(db, acme.id)) == 2


async def test_a_pass_takes_the_oldest_events_and_the_next_pass_the_rest(db: Db) -> None:
    acme = await make_account(db, name="Acme", external_id="crm-1")
    messages = check_request({"batch": [_group("u1", "crm-1", "g1")] + [_track("u1", "Login", f"t{n}")
                                                                       for n in range(5)]},
                             endpoint="batch", received_at=NOW)
    async with db.write() as session:
        await store_events(session, messages, token_id=None, received_at=NOW)
    async with db.write() as session:
        first = await roll_up_pending(session, now=NOW, limit=4)
    assert (first.events, first.counted) == (4, 3)
    async with db.write() as session:
        second = await roll_up_pending(session, now=NOW, limit=4)
    async with db.write() as session:
        third = await roll_up_pending(session, now=NOW, limit=4)
    assert (second.events, second.counted, third.events) == (2, 2, 0)
    assert await _usage(db, acme.id) == {NOVEMBER: (1, 5, 1, True)}


async def test_marks_are_claimed_once_and_a_change_during_a_claim_stays_pending(db: Db) -> None:
    a = await make_account(db, name="A")
    b = await make_account(db, name="B")
    async with db.write() as session:
        await mark_accounts(session, [a.id, b.id], now=NOW, reason="events")
    lease = timedelta(minutes=2)
    async with db.write() as session:
        first = await claim_marked(session, claimer=1, now=NOW, lease=lease, limit=10)
    async with db.write() as session:
        second = await claim_marked(session, claimer=2, now=NOW + timedelta(seconds=1), lease=lease, limit=10)
    assert {item.account_id for item in first} == {a.id, b.id} and second == [], "held accounts are not claimed twice"
    async with db.write() as session:
        await mark_accounts(session, [a.id], now=NOW + timedelta(seconds=2), reason="events")
    async with db.write() as session:
        await finish_marked(session, first, claimer=1, now=NOW + timedelta(seconds=3))
    async with db.read() as session:
        marks = {mark.account_id: mark for (mark,) in await session.execute(select(AccountMark))}
    assert marks[b.id].pending_since is None and marks[b.id].lag_seconds == 3.0
    assert marks[a.id].pending_since == NOW + timedelta(seconds=2), "the later change waits for the next claim"
    async with db.write() as session:
        later = await claim_marked(session, claimer=2, now=NOW + timedelta(seconds=4), lease=lease, limit=10)
    assert [item.account_id for item in later] == [a.id]


async def test_a_dead_claimers_accounts_come_back_after_the_lease(db: Db) -> None:
    a = await make_account(db, name="A")
    async with db.write() as session:
        await mark_accounts(session, [a.id], now=NOW, reason="events")
    async with db.write() as session:
        assert await claim_marked(session, claimer=1, now=NOW, lease=timedelta(seconds=30), limit=10)
    async with db.write() as session:
        again = await claim_marked(session, claimer=2, now=NOW + timedelta(seconds=31), lease=timedelta(seconds=30),
                                   limit=10)
    assert [item.account_id for item in again] == [a.id]
