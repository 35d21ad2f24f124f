from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from store.crm.account_view import get_account_360
from store.crm.activity import add_health_note, log_touchpoint
from store.crm.contacts import upsert_contact
from store.database.models import Contact
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import NOW, Db
from tests.factories import make_account


async def test_replacing_a_departed_sponsor_moves_the_primary_flag(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        old = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                   name="Pat Old", email="pat@acme.com", role="executive_sponsor",
                                   is_primary_sponsor=True)
    async with db.write() as session:
        left = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                    email="PAT@acme.com", left_company_on=date(2026, 11, 20), expected_version=1)
        new = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                   name="Sam New", email="sam@acme.com", role="executive_sponsor",
                                   is_primary_sponsor=True)
    assert (left.id, left.left_company_on, left.version) == (old.id, date(2026, 11, 20), 2)
    async with db.read() as session:
        flags = dict((await session.execute(select(Contact.name, Contact.is_primary_sponsor))).all())
    assert flags == {"Pat Old": False, "Sam New": True}
    assert new.is_primary_sponsor


async def test_contact_rules(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        with pytest.raises(InvalidInput, match="name is required for a new contact"):
            await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 email="x@acme.com")
        with pytest.raises(InvalidInput, match="cannot be in the future"):
            await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 name="X", left_company_on=date(2027, 1, 1))
        with pytest.raises(NotFound, match="no contact 42 on account"):
            await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 contact_id=42, name="X")
        with pytest.raises(Forbidden):
            await upsert_contact(session, principal=db.principals["ben"], now=NOW, account_id=account.id, name="X")
    async with db.write() as session:
        contact = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                       name="Kim", email="kim@acme.com")
    with pytest.raises(Conflict, match="at version 1, you sent expected_version 3"):
        async with db.write() as session:
            await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 contact_id=contact.id, title="CTO", expected_version=3)


async def test_notes_and_touchpoints_land_in_the_account_360(db: Db) -> None:
    account = await make_account(db)
    long_note = "Budget review next month. " * 40
    async with db.write() as session:
        await add_health_note(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                              body=long_note, sentiment="negative")
        await log_touchpoint(session, principal=db.principals["ana"], now=NOW, account_id=account.id, kind="call",
                             summary="Renewal call with finance", occurred_at=NOW - timedelta(days=3))
        await log_touchpoint(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             kind="email_in", summary="They asked for an invoice copy")
    async with db.read() as session:
        view = await get_account_360(session, account_id=account.id, now=NOW)
        full = await get_account_360(session, account_id=account.id, now=NOW, full_text=True)
    assert view.recent_notes[0].truncated and view.recent_notes[0].body.endswith("…[truncated]")
    assert full.recent_notes[0].body == long_note.strip() and not full.recent_notes[0].truncated
    assert [t.kind for t in view.recent_touchpoints] == ["email_in", "call"]
    # An inbound email is not outbound contact: the last outbound contact is the call.
    assert view.last_outbound_contact_at == NOW - timedelta(days=3)
    assert view.last_meeting_at is None
    assert view.open_renewal is not None and view.open_renewal.stage == "upcoming"


async def test_touchpoints_in_the_future_or_without_a_zone_are_refused(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        with pytest.raises(InvalidInput, match="is in the future"):
            await log_touchpoint(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 kind="call", summary="x", occurred_at=NOW + timedelta(days=30))
        with pytest.raises(InvalidInput, match="needs a time zone"):
            await log_touchpoint(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 kind="call", summary="x", occurred_at=datetime(2026, 11, 1, 9, 0))
        with pytest.raises(InvalidInput, match="kind must be one of meeting"):
            await log_touchpoint(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 kind="fax", summary="x", occurred_at=datetime(2026, 11, 1, tzinfo=UTC))
