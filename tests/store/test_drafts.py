"""The draft state machine and the separation of duties, exhaustively."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from sqlalchemy import select, update

from store.crm.accounts import update_account
from store.crm.contacts import upsert_contact
from store.crm.drafts import (
    DECIDERS,
    TRANSITIONS,
    claim_for_sending,
    create_draft,
    record_sent,
    review_draft,
)
from store.crm.renewals import update_renewal
from store.database.models import AuditEvent, Draft, Renewal
from store.errors import Conflict, Forbidden, InvalidInput
from tests.conftest import NOW, Db
from tests.factories import make_account

ROLES = ("ana", "ben", "morgan", "riley", "root", "bot")  # csm owner, csm peer, manager, reviewer, admin, agent
STATUSES = ("pending_review", "approved", "rejected", "sent", "cancelled", "stale")
DECISIONS = ("approve", "edit_and_approve", "edit", "reject", "cancel")


async def _draft(db: Db, *, author: str = "bot", kind: str = "check_in", status: str = "pending_review") -> int:
    account = await make_account(db, name=f"Acme {kind} {author} {status}")
    async with db.write() as session:
        contact = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                       name="Pat Lee", email="pat@acme.com", role="champion")
        draft = await create_draft(session, principal=db.principals[author], now=NOW, account_id=account.id,
                                   kind=kind, contact_id=contact.id, from_name="Ana Garcia",
                                   from_email="ana@example.com", subject="Checking in", body="Hi Pat, how are you?",
                                   reasons=["Last outbound contact 33 days ago."], method="template")
    if status != "pending_review":
        async with db.write() as session:
            await session.execute(update(Draft).where(Draft.id == draft.id).values(status=status))
    return draft.id


def _expected(status: str, decision: str, role: str, author: str) -> str:
    """What the rules say should happen: the new status, or "forbidden" / "conflict"."""
    target = TRANSITIONS.get((status, decision))
    principal_role = {"ana": "csm", "ben": "csm", "morgan": "manager", "riley": "reviewer", "root": "admin",
                      "bot": "agent"}[role]
    if target is None:
        return "conflict"
    if decision in {"approve", "edit_and_approve", "reject"}:
        if principal_role not in DECIDERS or role == author:
            return "forbidden"
    elif decision == "edit":
        if principal_role not in DECIDERS and role != author:
            return "forbidden"
    elif decision == "cancel" and principal_role not in DECIDERS and role != "ana":
        return "forbidden"
    if principal_role == "agent":
        return "forbidden"
    return target


@pytest.mark.parametrize(("status", "decision", "role"), list(itertools.product(STATUSES, DECISIONS, ROLES)))
async def test_every_transition_for_every_role(main_db: Db, status: str, decision: str, role: str) -> None:
    draft_id = await _draft(main_db, author="bot", status=status)
    expected = _expected(status, decision, role, author="bot")
    edits = {"body": "Hi Pat, edited."} if decision in {"edit", "edit_and_approve"} else {}
    note = "Not the right moment." if decision == "reject" else None
    try:
        async with main_db.write() as session:
            result = await review_draft(session, principal=main_db.principals[role], now=NOW, draft_id=draft_id,
                                        decision=decision, note=note, **edits)
        outcome = result.status
    except Forbidden:
        outcome = "forbidden"
    except Conflict:
        outcome = "conflict"
    assert outcome == expected
    async with main_db.read() as session:
        stored = await session.get(Draft, draft_id)
    assert stored.status == (expected if expected not in {"forbidden", "conflict"} else status)


async def test_a_reviewer_cannot_approve_their_own_draft(db: Db) -> None:
    draft_id = await _draft(db, author="morgan")
    with pytest.raises(Forbidden, match="wrote draft .* and cannot approve it"):
        async with db.write() as session:
            await review_draft(session, principal=db.principals["morgan"], now=NOW, draft_id=draft_id,
                               decision="approve")
    async with db.write() as session:
        approved = await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                                      decision="approve")
    assert approved.status == "approved" and approved.reviewer == "riley@example.com"


async def test_a_csm_who_asked_for_a_draft_cannot_approve_or_reject_it(db: Db) -> None:
    draft_id = await _draft(db, author="ana")
    for decision in ("approve", "reject", "edit_and_approve"):
        with pytest.raises(Forbidden):
            async with db.write() as session:
                await review_draft(session, principal=db.principals["ana"], now=NOW, draft_id=draft_id,
                                   decision=decision, note="x", body="y" if "edit" in decision else None)


async def test_the_agent_can_never_approve_send_or_change_a_decision(db: Db) -> None:
    draft_id = await _draft(db, author="morgan")
    for decision in DECISIONS:
        with pytest.raises(Forbidden):
            async with db.write() as session:
                await review_draft(session, principal=db.principals["bot"], now=NOW, draft_id=draft_id,
                                   decision=decision, note="x", body="y" if "edit" in decision else None)
    async with db.write() as session:
        await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id, decision="approve")
    with pytest.raises(Forbidden, match="cannot send drafts"):
        async with db.write() as session:
            await claim_for_sending(session, principal=db.principals["bot"], now=NOW)


async def test_nothing_reaches_sent_without_an_approval_by_someone_other_than_its_author(db: Db) -> None:
    pending = await _draft(db, author="bot")
    with pytest.raises(Conflict, match="send is possible only from approved"):
        async with db.write() as session:
            await record_sent(session, principal=db.principals["morgan"], draft_id=pending, delivery="x", now=NOW)
    async with db.write() as session:
        assert await claim_for_sending(session, principal=db.principals["morgan"], now=NOW) == []


async def test_an_edit_keeps_the_original_and_every_decision_is_audited(db: Db) -> None:
    draft_id = await _draft(db)
    async with db.write() as session:
        await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id, decision="edit",
                           subject="Quick check-in")
    async with db.write() as session:
        approved = await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                                      decision="edit_and_approve", body="Hi Pat, shall we talk next week?")
    assert (approved.subject, approved.body) == ("Quick check-in", "Hi Pat, shall we talk next week?")
    assert (approved.original_subject, approved.original_body) == ("Checking in", "Hi Pat, how are you?")
    async with db.read() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "draft")
                                             .order_by(AuditEvent.id)))
    assert actions == ["draft.create", "draft.edit", "draft.edit_and_approve"]


async def test_a_rejection_needs_a_note_and_edits_need_text(db: Db) -> None:
    draft_id = await _draft(db)
    async with db.write() as session:
        with pytest.raises(InvalidInput, match="rejection needs a note"):
            await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                               decision="reject")
        with pytest.raises(InvalidInput, match="an edit needs a new subject"):
            await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                               decision="edit")


@pytest.mark.parametrize("change", ["churned", "contact_left", "renewal_closed"])
async def test_a_draft_whose_account_changed_materially_turns_stale_instead_of_approved(db: Db, change: str) -> None:
    draft_id = await _draft(db, kind="value_review")
    async with db.read() as session:
        draft = await session.get(Draft, draft_id)
    async with db.write() as session:
        if change == "churned":
            await update_account(session, principal=db.principals["ana"], now=NOW, account_id=draft.account_id,
                                 expected_version=1, changes={"status": "churned"})
        elif change == "contact_left":
            await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=draft.account_id,
                                 contact_id=draft.contact_id, left_company_on=date(2026, 11, 20))
        else:
            renewal = await session.scalar(select(Renewal.id).where(Renewal.account_id == draft.account_id))
            await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal,
                                 expected_version=1, stage="closed_won", final_amount="120000")
    async with db.write() as session:
        result = await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                                    decision="approve")
    assert result.status == "stale" and result.stale_reason
    with pytest.raises(Conflict, match="draft .* is stale"):
        async with db.write() as session:
            await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft_id,
                               decision="approve")
