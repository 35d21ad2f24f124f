"""The account's history: health notes and touchpoints (the contact history)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.crm.accounts import load_account
from store.database.models import Contact, HealthNote, Touchpoint
from store.errors import InvalidInput, NotFound
from store.runs.account_marks import mark_accounts
from store.schemas import NoteOut, TouchpointOut
from store.vocabulary import Sentiment, TouchpointKind

# Logging a touchpoint a little ahead of time is fine (a meeting about to start); a month ahead is a typo.
MAX_TOUCHPOINT_LEAD = timedelta(days=1)


async def add_health_note(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, body: str,
    sentiment: str = "neutral",
) -> NoteOut:
    """Record a CSM's note on the account's health.

    Raises:
        NotFound, Forbidden, InvalidInput.
    """
    account = await load_account(session, account_id)
    require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    note = HealthNote(account_id=account_id, author_id=principal.user_id, created_at=now,
                      body=validation.text(body, "body", max_length=validation.MAX_TEXT),
                      sentiment=validation.one_of(sentiment, get_args(Sentiment), "sentiment"))
    session.add(note)
    await session.flush()
    audit.record(session, principal=principal, action="health_note.create", entity="health_note",
                 entity_id=note.id, at=now, after=audit.snapshot(note))
    return NoteOut(id=note.id, author=principal.email, sentiment=note.sentiment, created_at=note.created_at,
                   body=note.body)


async def log_touchpoint(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, kind: str, summary: str,
    occurred_at: datetime | None = None, contact_id: int | None = None,
) -> TouchpointOut:
    """Record a meeting, call, email or QBR with the account.

    Raises:
        NotFound, Forbidden, InvalidInput.
    """
    account = await load_account(session, account_id)
    require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    when = occurred_at or now
    if when.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone, like 2026-11-20T15:00:00Z")
    if when > now + MAX_TOUCHPOINT_LEAD:
        raise InvalidInput(f"occurred_at ({when.isoformat()}) is in the future; log touchpoints once they happen")
    if contact_id is not None:
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.account_id != account_id:
            raise NotFound(f"no contact {contact_id} on account {account_id}; get_account lists its contacts")
    touchpoint = Touchpoint(account_id=account_id, contact_id=contact_id, author_id=principal.user_id,
                            kind=validation.one_of(kind, get_args(TouchpointKind), "kind"), occurred_at=when,
                            summary=validation.text(summary, "summary", max_length=validation.MAX_TEXT), created_at=now)
    session.add(touchpoint)
    await session.flush()
    audit.record(session, principal=principal, action="touchpoint.create", entity="touchpoint",
                 entity_id=touchpoint.id, at=now, after=audit.snapshot(touchpoint))
    await mark_accounts(session, [account_id], now=now, reason="touchpoint.create")
    return TouchpointOut(id=touchpoint.id, kind=touchpoint.kind, occurred_at=touchpoint.occurred_at,
                         summary=touchpoint.summary, contact_id=contact_id, author=principal.email)
