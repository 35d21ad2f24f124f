"""The account 360: everything a CSM needs about one account, in one read."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store import validation
from store.accounts import account_detail
from store.assessments import health_history, latest_assessment
from store.errors import NotFound
from store.models import (
    Account,
    Contact,
    HealthNote,
    Renewal,
    SupportTicket,
    SurveyResponse,
    Task,
    Touchpoint,
    UsageSnapshot,
    User,
    UtcDateTime,
)
from store.renewals import renewal_out
from store.schemas import (
    Account360,
    AssessmentBrief,
    ContactOut,
    HealthPointOut,
    NoteOut,
    SupportSummary,
    SurveyOut,
    TicketOut,
    TouchpointOut,
    UsageOut,
)
from store.signal_facts import MEETING_KINDS, OUTBOUND_KINDS
from store.tasks import task_out
from store.vocabulary import OPEN_RENEWAL_STAGES, OPEN_TASK_STATUSES

RECENT_ITEMS = 5
OPEN_TASKS_SHOWN = 10
USAGE_PERIODS_SHOWN = 3
SHORT_TEXT = 400


async def get_account_360(session: AsyncSession, *, account_id: int, now: datetime,
                          full_text: bool = False) -> Account360:
    """The account with its contacts, open renewal, history, tasks, usage, support and surveys.

    Long notes and summaries are cut at 400 characters with a marker unless `full_text`.

    Raises:
        NotFound: no such account.
    """
    found = (await session.execute(select(Account, User.email).join(User, User.id == Account.owner_id)
                                   .where(Account.id == account_id))).one_or_none()
    if found is None:
        raise NotFound(f"no account with id {account_id}; find ids with list_accounts")
    account, owner = found
    today = now.date()
    text_limit = validation.MAX_TEXT if full_text else SHORT_TEXT
    author = aliased(User)

    contacts = await session.scalars(
        select(Contact).where(Contact.account_id == account_id)
        .order_by(Contact.is_primary_sponsor.desc(), Contact.left_company_on.is_not(None), Contact.role, Contact.name)
    )
    renewal = await session.scalar(
        select(Renewal).where(Renewal.account_id == account_id, Renewal.stage.in_(OPEN_RENEWAL_STAGES))
        .order_by(Renewal.due_date).limit(1)
    )
    touchpoints = await session.execute(
        select(Touchpoint, author.email).join(author, author.id == Touchpoint.author_id)
        .where(Touchpoint.account_id == account_id)
        .order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc()).limit(RECENT_ITEMS)
    )
    notes = await session.execute(
        select(HealthNote, author.email).join(author, author.id == HealthNote.author_id)
        .where(HealthNote.account_id == account_id)
        .order_by(HealthNote.created_at.desc(), HealthNote.id.desc()).limit(RECENT_ITEMS)
    )
    tasks = await session.execute(
        select(Task, author.email).join(author, author.id == Task.assignee_id)
        .where(Task.account_id == account_id, Task.status.in_(OPEN_TASK_STATUSES))
        .order_by(Task.due_date.asc().nulls_last(), Task.id).limit(OPEN_TASKS_SHOWN)
    )
    usage = await session.scalars(
        select(UsageSnapshot).where(UsageSnapshot.account_id == account_id)
        .order_by(UsageSnapshot.period_start.desc()).limit(USAGE_PERIODS_SHOWN)
    )
    surveys = await session.scalars(
        select(SurveyResponse).where(SurveyResponse.account_id == account_id)
        .order_by(SurveyResponse.responded_at.desc()).limit(RECENT_ITEMS)
    )
    # CASE loses the column type; coercing restores the timezone-aware conversion on every backend.
    last_outbound, last_meeting = (await session.execute(
        select(type_coerce(func.max(case((Touchpoint.kind.in_(OUTBOUND_KINDS), Touchpoint.occurred_at))),
                           UtcDateTime()),
               type_coerce(func.max(case((Touchpoint.kind.in_(MEETING_KINDS), Touchpoint.occurred_at))),
                           UtcDateTime()))
        .where(Touchpoint.account_id == account_id)
    )).one()
    latest = await latest_assessment(session, account_id)
    history = await health_history(session, account_id)
    return Account360(
        account=account_detail(account, owner, today),
        assessment=AssessmentBrief.model_validate(latest.model_dump()) if latest else None,
        health_history=[HealthPointOut(at=point.at.date(), status=point.status, score=point.score)
                        for point in history],
        contacts=[ContactOut.model_validate(contact) for contact in contacts],
        open_renewal=renewal_out(renewal, account, owner, today) if renewal else None,
        last_outbound_contact_at=last_outbound,
        last_meeting_at=last_meeting,
        recent_touchpoints=[_touchpoint(row, email, text_limit) for row, email in touchpoints],
        recent_notes=[_note(row, email, text_limit) for row, email in notes],
        open_tasks=[task_out(task, account.name, email, today) for task, email in tasks],
        usage=[UsageOut.model_validate(snapshot) for snapshot in usage],
        support=await _support(session, account_id=account_id, now=now),
        surveys=[_survey(row, text_limit) for row in surveys],
    )


def _touchpoint(row: Touchpoint, author_email: str, limit: int) -> TouchpointOut:
    summary, cut = validation.truncate(row.summary, limit)
    return TouchpointOut(id=row.id, kind=row.kind, occurred_at=row.occurred_at, summary=summary,
                         contact_id=row.contact_id, author=author_email, truncated=cut)


def _note(row: HealthNote, author_email: str, limit: int) -> NoteOut:
    body, cut = validation.truncate(row.body, limit)
    return NoteOut(id=row.id, author=author_email, sentiment=row.sentiment, created_at=row.created_at,
                   body=body, truncated=cut)


def _survey(row: SurveyResponse, limit: int) -> SurveyOut:
    comment = validation.truncate(row.comment, limit)[0] if row.comment else None
    return SurveyOut(kind=row.kind, score=row.score, comment=comment, responded_at=row.responded_at,
                     contact_id=row.contact_id)


async def _support(session: AsyncSession, *, account_id: int, now: datetime) -> SupportSummary:
    # Open tickets and those closed in the last 90 days, in one query.
    rows = list(await session.scalars(
        select(SupportTicket).where(SupportTicket.account_id == account_id,
                                    or_(SupportTicket.closed_at.is_(None),
                                        SupportTicket.closed_at >= now - timedelta(days=90)))
        .order_by(SupportTicket.opened_at.desc())
    ))
    open_rows = [row for row in rows if row.closed_at is None]
    closed_recently = len(rows) - len(open_rows)
    tickets = [TicketOut(id=t.id, subject=t.subject, priority=t.priority, opened_at=t.opened_at, due_at=t.due_at,
                         escalated=t.escalated, overdue=t.due_at is not None and t.due_at < now)
               for t in open_rows]
    return SupportSummary(open=len(tickets), overdue=sum(t.overdue for t in tickets),
                          escalated=sum(t.escalated for t in tickets), closed_last_90_days=closed_recently,
                          open_tickets=tickets[:RECENT_ITEMS])
