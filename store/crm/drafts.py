"""Drafted outreach and its review: the state machine and the separation of duties.

Approval is an authorization boundary, enforced here whatever a prompt or a model says:
only a reviewer, manager or admin decides; nobody decides on a draft they authored; the agent
never approves, sends or changes a decision. A draft whose account changed materially before it
went out (account churned, recipient left, renewal closed) turns `stale` and cannot be approved.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.auth.users import user_id_filter
from store.crm.accounts import load_account
from store.crm.draft_grounding import review_draft_text, risk_summary
from store.crm.instruction_note import holds_note, note_refusal
from store.crm.pagination import check_page_size, decode_cursor, filters_fingerprint, next_cursor
from store.database.models import Account, Contact, Draft, Renewal, User
from store.database.versioning import check_version, flush_guarded
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from store.schemas import DraftHighlight, DraftOut, DraftPage, DraftRow
from store.vocabulary import CLOSED_RENEWAL_STAGES

DRAFT_KINDS = ("check_in", "usage_nudge", "renewal_ack", "value_review", "sponsor_intro", "detractor_follow_up")
DRAFT_STATUSES = ("pending_review", "approved", "rejected", "sent", "cancelled", "stale")
DECIDERS = frozenset({"reviewer", "manager", "admin"})
SENDERS = frozenset({"csm", "reviewer", "manager", "admin"})
# Drafts about an upcoming renewal; a renewal acknowledgement is written after one closes.
RENEWAL_KINDS = frozenset({"value_review"})
MAX_SUBJECT = 150
MAX_BODY = 5000
Decision = Literal["approve", "edit_and_approve", "edit", "reject", "cancel"]

# (from status, action) → to status. Anything not listed is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending_review", "approve"): "approved",
    ("pending_review", "edit_and_approve"): "approved",
    ("pending_review", "edit"): "pending_review",
    ("pending_review", "reject"): "rejected",
    ("pending_review", "cancel"): "cancelled",
    ("pending_review", "stale"): "stale",
    ("approved", "cancel"): "cancelled",
    ("approved", "stale"): "stale",
    ("approved", "send"): "sent",
}


def _transition(draft: Draft, action: str) -> str:
    target = TRANSITIONS.get((draft.status, action))
    if target is None:
        allowed = sorted({source for source, act in TRANSITIONS if act == action})
        raise Conflict(f"draft {draft.id} is {draft.status}; {action} is possible only from "
                       f"{' or '.join(allowed)}")
    return target


def require_decider(principal: Principal, draft: Draft, action: str) -> None:
    """Only a reviewer, manager or admin decides, and never on a draft they authored.

    Raises:
        Forbidden: the principal may not take this decision.
    """
    if principal.role not in DECIDERS:
        raise Forbidden(f"role {principal.role!r} cannot {action} drafts; a reviewer, manager or admin can")
    if draft.author_id == principal.user_id or draft.author == principal.email:
        raise Forbidden(f"{principal.email} wrote draft {draft.id} and cannot {action} it; "
                        "someone else must review it")


async def create_draft(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, kind: str, contact_id: int,
    from_name: str, from_email: str, subject: str, body: str, reasons: list[str], method: str,
    fallback_reason: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
    dedupe_key: str | None = None, grounding: dict[str, Any] | None = None,
) -> DraftOut:
    """Record a draft for review. The agent drafts for any account; people for accounts they may change.

    Raises:
        Forbidden, InvalidInput, NotFound.
    """
    account = await load_account(session, account_id)
    if principal.role != "agent":
        require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    validation.one_of(kind, DRAFT_KINDS, "kind")
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.account_id != account_id:
        raise InvalidInput(f"contact {contact_id} is not on account {account_id}; get_account lists its contacts")
    if not contact.email:
        raise InvalidInput(f"{contact.name} has no email address; add one with upsert_contact first")
    if contact.left_company_on is not None:
        raise InvalidInput(f"{contact.name} left on {contact.left_company_on}; address someone still there")
    draft = _pending_draft(principal, now, account_id=account_id, contact_id=contact.id, kind=kind,
                           dedupe_key=dedupe_key, to_name=contact.name, to_email=contact.email, from_name=from_name,
                           from_email=from_email, subject=subject, body=body, reasons=reasons, method=method,
                           fallback_reason=fallback_reason, prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens, grounding=grounding)
    session.add(draft)
    await session.flush()
    audit.record(session, principal=principal, action="draft.create", entity="draft", entity_id=draft.id, at=now,
                 after=audit.snapshot(draft))
    return await get_draft(session, draft_id=draft.id)


def add_agent_draft(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, kind: str, contact_id: int,
    to_name: str, to_email: str, from_name: str, from_email: str, subject: str, body: str, reasons: list[str],
    method: str, fallback_reason: str | None, prompt_tokens: int, completion_tokens: int, dedupe_key: str,
    grounding: dict[str, Any] | None = None,
) -> Draft:
    """Queue a playbook draft for review, addressed to a contact the agent read in this cycle; the caller
    flushes and audits (see `audit_new_drafts`). A contact gone since makes the write fail and retry.

    Raises:
        Forbidden: the principal is not the agent. InvalidInput: a bad kind, an empty text or no address.
    """
    if principal.role != "agent":
        raise Forbidden("only the agent queues playbook drafts this way")
    if not to_email:
        raise InvalidInput(f"{to_name} has no email address")
    draft = _pending_draft(principal, now, account_id=account_id, contact_id=contact_id, kind=kind,
                           dedupe_key=dedupe_key, to_name=to_name, to_email=to_email, from_name=from_name,
                           from_email=from_email, subject=subject, body=body, reasons=reasons, method=method,
                           fallback_reason=fallback_reason, prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens, grounding=grounding)
    session.add(draft)
    return draft


def _pending_draft(principal: Principal, now: datetime, *, kind: str, subject: str, body: str,
                   **fields: Any) -> Draft:
    """A new draft waiting for review, its kind and texts checked; authored by `principal`."""
    return Draft(**fields, kind=validation.one_of(kind, DRAFT_KINDS, "kind"),
                 subject=validation.text(subject, "subject", max_length=MAX_SUBJECT),
                 body=validation.text(body, "body", max_length=MAX_BODY), status="pending_review",
                 author=principal.email, author_id=principal.user_id, created_at=now, updated_at=now)


def audit_new_drafts(session: AsyncSession, drafts: list[Draft], *, principal: Principal, now: datetime) -> None:
    """Audit drafts once a flush has given them ids."""
    for draft in drafts:
        audit.record(session, principal=principal, action="draft.create", entity="draft", entity_id=draft.id,
                     at=now, after=audit.snapshot(draft))


async def get_draft(session: AsyncSession, *, draft_id: int) -> DraftOut:
    """The draft with its reasons and the account's current health.

    Raises:
        NotFound: no such draft.
    """
    draft = await session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"no draft with id {draft_id}; list_drafts shows the queue")
    account = await session.get(Account, draft.account_id)
    assert account is not None
    owner = await session.scalar(select(User.email).where(User.id == account.owner_id)) or ""
    reviewer = await session.scalar(select(User.email).where(User.id == draft.reviewer_id)) \
        if draft.reviewer_id else None
    checked = review_draft_text(draft.subject, draft.body, draft.grounding)
    return DraftOut(**_row_fields(draft, account.name, owner), body=draft.body, reasons=draft.reasons,
                    risk=risk_summary(checked, recorded=draft.grounding is not None),
                    highlights=[DraftHighlight(**h.as_dict()) for h in checked.highlights],
                    method=draft.method, fallback_reason=draft.fallback_reason,
                    instruction_use=(draft.grounding or {}).get("instruction_use"),
                    original_subject=draft.original_subject, original_body=draft.original_body, reviewer=reviewer,
                    review_note=draft.review_note, decided_at=draft.decided_at, stale_reason=draft.stale_reason,
                    sent_at=draft.sent_at, delivery=draft.delivery, delivery_error=draft.delivery_error,
                    health_status=account.health_status, health_score=account.health_score)


def _row_fields(draft: Any, account_name: str, owner: str) -> dict[str, Any]:
    return {"id": draft.id, "account_id": draft.account_id, "account_name": account_name, "owner": owner,
            "kind": draft.kind, "status": draft.status, "to": f"{draft.to_name} <{draft.to_email}>",
            "subject": draft.subject, "author": draft.author, "created_at": draft.created_at,
            "version": draft.version}


async def list_drafts(
    session: AsyncSession, *, principal: Principal, statuses: tuple[str, ...] = ("pending_review",),
    kinds: tuple[str, ...] = (), owner: str | None = None, account_id: int | None = None, limit: int = 25,
    cursor: str | None = None, created_before: datetime | None = None, offset: int | None = None,
) -> DraftPage:
    """The review queue, oldest first; `created_before` keeps drafts older than a moment, and `offset`
    stands in for the cursor where pages are numbered (the web desk).

    Raises:
        InvalidInput: a filter or the cursor is malformed. NotFound: the owner is unknown.
    """
    check_page_size(limit)
    for status in statuses:
        validation.one_of(status, DRAFT_STATUSES, "status")
    for kind in kinds:
        validation.one_of(kind, DRAFT_KINDS, "kind")
    conditions = [Draft.status.in_(statuses)]
    if kinds:
        conditions.append(Draft.kind.in_(kinds))
    owner_id = await user_id_filter(session, ref=owner, principal=principal)
    if owner_id is not None:
        conditions.append(Account.owner_id == owner_id)
    if account_id is not None:
        conditions.append(Draft.account_id == account_id)
    if created_before is not None:
        conditions.append(Draft.created_at < created_before)
    fingerprint = filters_fingerprint({"s": statuses, "k": kinds, "o": owner_id, "a": account_id,
                                       "b": created_before})
    offset = decode_cursor(cursor, fingerprint) if offset is None else offset
    # The count reads the drafts alone (their accounts only to filter by owner): a queue of 150,000
    # drafts is counted from the (status, created_at, id) index instead of joined row by row.
    counted = select(func.count()).select_from(Draft)
    if owner_id is not None:
        counted = counted.join(Account, Account.id == Draft.account_id)
    total = await session.scalar(counted.where(*conditions)) or 0
    statement = select(Draft, Account.name, User.email).join(Account, Account.id == Draft.account_id) \
        .join(User, User.id == Account.owner_id).where(*conditions)
    rows = await session.execute(statement.order_by(Draft.created_at, Draft.id).offset(offset).limit(limit))
    items = [DraftRow(**_row_fields(draft, name, email)) for draft, name, email in rows]
    return DraftPage(items=items, total=total, next_cursor=next_cursor(offset, len(items), total, fingerprint))


def draft_rows(db: Connection, *, account_id: int, statuses: tuple[str, ...]) -> list[DraftRow]:
    """One account's drafts in these statuses, oldest first (a read unit, for the account's page)."""
    statement = select(Draft.id, Draft.account_id, Account.name, User.email, Draft.kind, Draft.status,
                       Draft.to_name, Draft.to_email, Draft.subject, Draft.author, Draft.created_at, Draft.version) \
        .join(Account, Account.id == Draft.account_id).join(User, User.id == Account.owner_id) \
        .where(Draft.account_id == account_id, Draft.status.in_(statuses)).order_by(Draft.created_at, Draft.id)
    return [DraftRow(**_row_fields(row, row.name, row.email)) for row in db.execute(statement)]


async def stale_reason(session: AsyncSession, draft: Draft) -> str | None:
    """Why the draft no longer fits its account, or None while it still does."""
    account = await session.get(Account, draft.account_id)
    contact = await session.get(Contact, draft.contact_id) if draft.contact_id else None
    reason = _recipient_gone(account.status if account else None, contact.name if contact else None,
                             contact.left_company_on if contact else None)
    if reason is None and draft.kind in RENEWAL_KINDS:
        closed_since = await session.scalar(select(Renewal.stage).where(
            Renewal.account_id == draft.account_id, Renewal.stage.in_(CLOSED_RENEWAL_STAGES),
            Renewal.closed_on >= draft.created_at.date()))
        reason = _renewal_closed(closed_since)
    return reason


def _recipient_gone(account_status: str | None, contact_name: str | None, left_on: date | None) -> str | None:
    if account_status != "active":
        return "the account has churned"
    if contact_name is None:
        return "the recipient was removed"
    if left_on is not None:
        return f"{contact_name} left the company on {left_on}"
    return None


def _renewal_closed(stage: str | None) -> str | None:
    return f"the renewal closed ({stage}) after the draft was written" if stage is not None else None


async def review_draft(
    session: AsyncSession, *, principal: Principal, now: datetime, draft_id: int, decision: Decision,
    subject: str | None = None, body: str | None = None, note: str | None = None,
    expected_version: int | None = None,
) -> DraftOut:
    """Approve, edit and approve, edit, reject or cancel a draft.

    A draft that no longer fits its account is marked `stale` instead of approved; check the status.

    Raises:
        NotFound, Forbidden (wrong role, own draft), InvalidInput, Conflict (wrong state, stale, version).
    """
    draft = await session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"no draft with id {draft_id}; list_drafts shows the queue")
    check_version("draft", draft.id, draft.version, expected_version)
    target = _transition(draft, decision)
    if decision in {"approve", "edit_and_approve", "reject"}:
        require_decider(principal, draft, decision.replace("_", " "))
    elif decision == "edit" and principal.role not in DECIDERS and draft.author_id != principal.user_id:
        raise Forbidden("only the draft's author, a reviewer, a manager or an admin can edit it")
    elif decision == "cancel":
        await _require_canceller(session, principal, draft)
    if principal.role == "agent":
        raise Forbidden("the agent cannot change a decision on a draft")
    if target == "approved" and holds_note(body if body is not None else draft.body):
        raise InvalidInput(note_refusal(draft_id))
    before = audit.snapshot(draft)
    if decision in {"edit", "edit_and_approve"}:
        _apply_edit(draft, subject=subject, body=body)
    elif subject is not None or body is not None:
        raise InvalidInput(f"subject and body are changed with edit or edit_and_approve, not {decision}")
    if decision == "reject" and not (note or "").strip():
        raise InvalidInput("a rejection needs a note saying why, so the author can do better")
    if target == "approved":
        reason = await stale_reason(session, draft)
        if reason is not None:
            # Not approved: recorded as stale instead, and the returned status says so.
            await _mark_stale(session, draft, reason=reason, now=now, principal=principal)
            return await get_draft(session, draft_id=draft_id)
    draft.status = target
    if decision != "edit":
        draft.reviewer_id, draft.decided_at = principal.user_id, now
        draft.review_note = validation.text(note, "note", max_length=2000, required=False) if note else None
    draft.updated_at = now
    await flush_guarded(session, "draft", draft_id)
    audit.record(session, principal=principal, action=f"draft.{decision}", entity="draft", entity_id=draft_id,
                 at=now, before=before, after=audit.snapshot(draft))
    return await get_draft(session, draft_id=draft_id)


def _apply_edit(draft: Draft, *, subject: str | None, body: str | None) -> None:
    if subject is None and body is None:
        raise InvalidInput("an edit needs a new subject, a new body, or both")
    if draft.original_body is None:
        draft.original_subject, draft.original_body = draft.subject, draft.body
    if subject is not None:
        draft.subject = validation.text(subject, "subject", max_length=MAX_SUBJECT)
    if body is not None:
        draft.body = validation.text(body, "body", max_length=MAX_BODY)


async def _require_canceller(session: AsyncSession, principal: Principal, draft: Draft) -> None:
    if principal.role in DECIDERS:
        return
    account = await session.get(Account, draft.account_id)
    assert account is not None
    if principal.role == "csm" and account.owner_id == principal.user_id:
        return
    raise Forbidden("only the account's owner, a reviewer, a manager or an admin can cancel a draft")


async def _mark_stale(session: AsyncSession, draft: Draft, *, reason: str, now: datetime,
                      principal: Principal | str) -> None:
    before = audit.snapshot(draft)
    draft.status, draft.stale_reason, draft.updated_at = _transition(draft, "stale"), reason, now
    await flush_guarded(session, "draft", draft.id)
    audit.record(session, principal=principal, action="draft.stale", entity="draft", entity_id=draft.id, at=now,
                 before=before, after=audit.snapshot(draft))


async def sweep_stale(session: AsyncSession, *, now: datetime, principal: Principal | str) -> int:
    """Mark stale every open draft whose account changed materially; returns how many.

    Two set-based queries find the candidates (the same rules as `stale_reason`), so a cycle over a
    large review queue costs two round trips, not several per draft.
    """
    open_draft = Draft.status.in_(("pending_review", "approved"))
    stale: dict[int, tuple[Draft, str]] = {}
    gone = await session.execute(
        select(Draft, Account.status, Contact.name, Contact.left_company_on)
        .join(Account, Account.id == Draft.account_id).outerjoin(Contact, Contact.id == Draft.contact_id)
        .where(open_draft, or_(Account.status != "active", Contact.id.is_(None),
                               Contact.left_company_on.is_not(None))))
    for draft, account_status, contact_name, left_on in gone:
        reason = _recipient_gone(account_status, contact_name, left_on)
        if reason is not None:
            stale[draft.id] = (draft, reason)
    closed = await session.execute(
        select(Draft, Renewal.stage, Renewal.closed_on)
        .join(Renewal, and_(Renewal.account_id == Draft.account_id, Renewal.stage.in_(CLOSED_RENEWAL_STAGES)))
        .where(open_draft, Draft.kind.in_(RENEWAL_KINDS)).order_by(Renewal.closed_on))
    for draft, stage, closed_on in closed:
        if draft.id not in stale and closed_on is not None and closed_on >= draft.created_at.date():
            stale[draft.id] = (draft, _renewal_closed(stage) or "")
    for draft, reason in stale.values():
        await _mark_stale(session, draft, reason=reason, now=now, principal=principal)
    return len(stale)


async def claim_for_sending(session: AsyncSession, *, principal: Principal, now: datetime,
                            limit: int = 100) -> list[Draft]:
    """Approved drafts not yet claimed, now claimed by this send (so a parallel send skips them).

    Raises:
        Forbidden: the principal may not send (the agent never does).
    """
    if principal.role not in SENDERS:
        raise Forbidden(f"role {principal.role!r} cannot send drafts; a csm, reviewer, manager or admin can")
    drafts = list(await session.scalars(
        select(Draft).where(Draft.status == "approved", Draft.send_claimed_at.is_(None))
        .order_by(Draft.decided_at, Draft.id).limit(limit)))
    for draft in drafts:
        draft.send_claimed_at = now
    await session.flush()
    return drafts


async def unfinished_sends(session: AsyncSession) -> list[Draft]:
    """Drafts claimed by a send that never recorded its outcome (it crashed or was killed)."""
    return list(await session.scalars(select(Draft).where(Draft.status == "approved",
                                                          Draft.send_claimed_at.is_not(None))))


async def record_sent(session: AsyncSession, *, principal: Principal, draft_id: int, delivery: str,
                      now: datetime) -> None:
    draft = await session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"no draft with id {draft_id}")
    before = audit.snapshot(draft)
    draft.status, draft.sent_at, draft.delivery, draft.delivery_error = _transition(draft, "send"), now, delivery, None
    draft.updated_at = now
    await flush_guarded(session, "draft", draft_id)
    audit.record(session, principal=principal, action="draft.send", entity="draft", entity_id=draft_id, at=now,
                 before=before, after=audit.snapshot(draft))


async def record_send_failure(session: AsyncSession, *, principal: Principal, draft_id: int, error: str,
                              now: datetime) -> None:
    """The transport refused the message: nothing went out, so the draft may be sent again later."""
    draft = await session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"no draft with id {draft_id}")
    draft.send_claimed_at, draft.delivery_error, draft.updated_at = None, error[:1000], now
    await flush_guarded(session, "draft", draft_id)
    audit.record(session, principal=principal, action="draft.send_failed", entity="draft", entity_id=draft_id,
                 at=now, after={"error": error[:1000]})


async def release_claim(session: AsyncSession, *, principal: Principal, draft_id: int, now: datetime) -> None:
    """Let an unfinished send be retried: the operator has checked the message did not go out."""
    draft = await session.get(Draft, draft_id)
    if draft is None or draft.status != "approved" or draft.send_claimed_at is None:
        raise Conflict(f"draft {draft_id} has no unfinished send to release")
    draft.send_claimed_at, draft.updated_at = None, now
    await flush_guarded(session, "draft", draft_id)
    audit.record(session, principal=principal, action="draft.send_released", entity="draft", entity_id=draft_id,
                 at=now)
