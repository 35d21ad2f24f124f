"""An assessment made before the account changed says so (in get_account and the brief) until the
account is assessed again; a change that is not an input of health marks nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from agents.assessment import assess_on_request
from prompts import render
from store.clock import FixedClock
from store.crm.account_view import get_account_360
from store.crm.activity import log_touchpoint
from store.crm.renewals import update_renewal
from store.database.models import AccountMark
from store.schemas import Account360
from tests.agents.conftest import deps_for
from tests.conftest import NOW, Db
from tests.factories import make_account

LATER = NOW + timedelta(hours=1)


async def _view(db: Db, account_id: int) -> Account360:
    async with db.read() as session:
        return await get_account_360(session, account_id=account_id, now=LATER)


async def test_an_assessment_made_before_the_renewal_moved_says_so_until_the_account_is_assessed_again(
        db: Db) -> None:
    account = await make_account(db, name="Acme Corp", renewal_date=NOW.date() + timedelta(days=60))
    await assess_on_request(deps_for(db), account.id)
    renewal = (await _view(db, account.id)).open_renewal
    assert renewal is not None and (await _view(db, account.id)).assessment.inputs_changed is None  # type: ignore[union-attr]
    async with db.write() as session:
        await update_renewal(session, principal=db.principals["ana"], now=LATER, renewal_id=renewal.id,
                             expected_version=renewal.version, stage="proposal_sent", forecast_amount="52000")
    view = await _view(db, account.id)
    expected = ("assessed before: the renewal changed on 2026-11-23 (now proposal_sent, forecast 52000.00 USD); "
                "the next assessment takes it in")
    assert view.assessment is not None and view.assessment.inputs_changed == expected
    brief = render("account_brief.md.j2", a=view).splitlines()
    assert f"> Note: {expected}." in brief
    assert brief.index(f"> Note: {expected}.") == brief.index("## Assessment") + 1
    # Assessed again after the change: the note goes.
    await assess_on_request(replace(deps_for(db), clock=FixedClock(LATER + timedelta(minutes=5))), account.id)
    view = await _view(db, account.id)
    assert view.assessment is not None and view.assessment.inputs_changed is None
    assert not any(line.startswith("> Note:") for line in render("account_brief.md.j2", a=view).splitlines())


async def test_a_logged_touchpoint_marks_the_account_and_renewal_notes_alone_do_not(db: Db) -> None:
    account = await make_account(db, name="Globex", renewal_date=NOW.date() + timedelta(days=60))
    await assess_on_request(deps_for(db), account.id)
    renewal = (await _view(db, account.id)).open_renewal
    assert renewal is not None
    async with db.write() as session:
        await update_renewal(session, principal=db.principals["ana"], now=LATER, renewal_id=renewal.id,
                             expected_version=renewal.version, notes="Procurement contact is Dana")
    async with db.read() as session:
        assert await session.scalar(select(AccountMark).where(AccountMark.account_id == account.id)) is None
    async with db.write() as session:
        await log_touchpoint(session, principal=db.principals["ana"], now=LATER, account_id=account.id, kind="call",
                             summary="Walked through the renewal terms")
    view = await _view(db, account.id)
    assert view.assessment is not None
    assert view.assessment.inputs_changed == ("assessed before: a touchpoint was logged on 2026-11-23; "
                                              "the next assessment takes it in")
