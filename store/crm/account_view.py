"""The account 360: everything a CSM needs about one account, in one read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store import validation
from store.crm.accounts import ROW_COLUMNS, account_detail
from store.crm.renewals import renewal_out
from store.crm.success_plans import active_plan_of
from store.crm.tasks import task_out
from store.database.engine import in_fixed, rows
from store.database.models import (
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
from store.database.one_hop import on_session
from store.errors import NotFound
from store.health.assessments import health_history, latest_assessment_of
from store.health.signal_facts import MEETING_KINDS, OUTBOUND_KINDS
from store.runs.account_marks import PENDING_MARKS, change_words
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
from store.vocabulary import OPEN_RENEWAL_STAGES, OPEN_TASK_STATUSES

RECENT_ITEMS = 5
OPEN_TASKS_SHOWN = 10
USAGE_PERIODS_SHOWN = 3
SHORT_TEXT = 400

# The 360's statements, built once: each call only binds the account (and the support window). Building
# and fingerprinting a statement for SQLAlchemy's compiled cache cost more than running it, twelve times
# a call. Each reads the columns its section shows, not ORM entities, for the same reason. Each reads one
# account's rows through an index on account_id, however large the database.
ACCOUNT_ID = bindparam("account_id", type_=Integer)
_author = aliased(User)


def _last_touch(kinds: tuple[str, ...]) -> Any:
    return select(func.max(Touchpoint.occurred_at)) \
        .where(Touchpoint.account_id == Account.id, in_fixed(Touchpoint.kind, kinds)).scalar_subquery()


# The account's row with its last outbound contact and meeting and its pending change (if any) beside it.
ACCOUNT = (
    select(*ROW_COLUMNS, Account.status, Account.lifecycle_stage, Account.domain, Account.external_id, Account.seats,
           Account.contract_start, Account.onboarding_status, Account.assessed_at, User.email.label("owner_email"),
           _last_touch(OUTBOUND_KINDS).label("last_outbound"), _last_touch(MEETING_KINDS).label("last_meeting"),
           PENDING_MARKS.c.marked_at.label("changed_at"), PENDING_MARKS.c.reason.label("change_reason"))
    .join(User, User.id == Account.owner_id)
    .outerjoin(PENDING_MARKS, PENDING_MARKS.c.account_id == Account.id).where(Account.id == ACCOUNT_ID))
CONTACTS = (
    select(Contact.id, Contact.name, Contact.email, Contact.title, Contact.role, Contact.is_primary_sponsor,
           Contact.left_company_on, Contact.external_id, Contact.version).where(Contact.account_id == ACCOUNT_ID)
    .order_by(Contact.is_primary_sponsor.desc(), Contact.left_company_on.is_not(None), Contact.role, Contact.name))
OPEN_RENEWAL = (
    select(Renewal.id, Renewal.account_id, Renewal.due_date, Renewal.stage, Renewal.currency, Renewal.target_amount,
           Renewal.forecast_amount, Renewal.final_amount, Renewal.booking_type, Renewal.version)
    .where(Renewal.account_id == ACCOUNT_ID, in_fixed(Renewal.stage, OPEN_RENEWAL_STAGES))
    .order_by(Renewal.due_date).limit(1))
TOUCHPOINTS = (
    select(Touchpoint.id, Touchpoint.kind, Touchpoint.occurred_at, Touchpoint.summary, Touchpoint.contact_id,
           _author.email).join(_author, _author.id == Touchpoint.author_id)
    .where(Touchpoint.account_id == ACCOUNT_ID)
    .order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc()).limit(RECENT_ITEMS))
NOTES = (
    select(HealthNote.id, HealthNote.sentiment, HealthNote.created_at, HealthNote.body, _author.email)
    .join(_author, _author.id == HealthNote.author_id).where(HealthNote.account_id == ACCOUNT_ID)
    .order_by(HealthNote.created_at.desc(), HealthNote.id.desc()).limit(RECENT_ITEMS))
OPEN_TASKS = (
    select(Task.id, Task.account_id, Task.title, Task.notes, Task.due_date, Task.status, Task.priority, Task.source,
           Task.version, _author.email).join(_author, _author.id == Task.assignee_id)
    .where(Task.account_id == ACCOUNT_ID, in_fixed(Task.status, OPEN_TASK_STATUSES))
    .order_by(Task.due_date.asc().nulls_last(), Task.id).limit(OPEN_TASKS_SHOWN))
USAGE = (
    select(UsageSnapshot.period_start, UsageSnapshot.active_users, UsageSnapshot.usage_count,
           UsageSnapshot.features_adopted).where(UsageSnapshot.account_id == ACCOUNT_ID)
    .order_by(UsageSnapshot.period_start.desc()).limit(USAGE_PERIODS_SHOWN))
SURVEYS = (
    select(SurveyResponse.kind, SurveyResponse.score, SurveyResponse.comment, SurveyResponse.responded_at,
           SurveyResponse.contact_id).where(SurveyResponse.account_id == ACCOUNT_ID)
    .order_by(SurveyResponse.responded_at.desc()).limit(RECENT_ITEMS))
# Open tickets and those closed since the support window began, in one query.
TICKETS = (
    select(SupportTicket.id, SupportTicket.subject, SupportTicket.priority, SupportTicket.opened_at,
           SupportTicket.due_at, SupportTicket.escalated, SupportTicket.closed_at)
    .where(SupportTicket.account_id == ACCOUNT_ID,
           or_(SupportTicket.closed_at.is_(None),
               SupportTicket.closed_at >= bindparam("closed_since", type_=UtcDateTime())))
    .order_by(SupportTicket.opened_at.desc()))
SUPPORT_WINDOW = timedelta(days=90)


async def get_account_360(session: AsyncSession, *, account_id: int, now: datetime,
                          full_text: bool = False) -> Account360:
    """account_360 in a session the caller holds."""
    return await on_session(session, account_360, account_id=account_id, now=now, full_text=full_text)


def account_360(db: Connection, *, account_id: int, now: datetime, full_text: bool = False) -> Account360:
    """The account with its contacts, open renewal, history, tasks, usage, support and surveys, as a read
    unit (see store.database.one_hop).

    Long notes and summaries are cut at 400 characters with a marker unless `full_text`.

    Raises:
        NotFound: no such account.
    """
    bound = {"account_id": account_id}
    account = rows(db, ACCOUNT, bound).first()
    if account is None:
        raise NotFound(f"no account with id {account_id}; find ids with list_accounts")
    owner = account.owner_email
    today = now.date()
    text_limit = validation.MAX_TEXT if full_text else SHORT_TEXT
    contacts = rows(db, CONTACTS, bound)
    renewal = rows(db, OPEN_RENEWAL, bound).first()
    touchpoints = rows(db, TOUCHPOINTS, bound)
    notes = rows(db, NOTES, bound)
    tasks = rows(db, OPEN_TASKS, bound)
    usage = rows(db, USAGE, bound)
    surveys = rows(db, SURVEYS, bound)
    latest = latest_assessment_of(db, account_id)
    history = health_history(db, account_id)
    assessment = None
    if latest is not None:
        assessment = AssessmentBrief.model_validate(
            {**latest.model_dump(), "inputs_changed": _changed_since(account, latest.created_at, renewal)})
    return Account360(
        account=account_detail(account, owner, today),
        assessment=assessment,
        health_history=[HealthPointOut(at=point.at.date(), status=point.status, score=point.score)
                        for point in history],
        contacts=[ContactOut.model_validate(contact) for contact in contacts],
        open_renewal=renewal_out(renewal, account, owner, today) if renewal else None,
        last_outbound_contact_at=account.last_outbound,
        last_meeting_at=account.last_meeting,
        recent_touchpoints=[_touchpoint(row, row.email, text_limit) for row in touchpoints],
        recent_notes=[_note(row, row.email, text_limit) for row in notes],
        open_tasks=[task_out(task, account.name, task.email, today) for task in tasks],
        usage=[UsageOut.model_validate(snapshot) for snapshot in usage],
        support=_support(db, account_id=account_id, now=now),
        surveys=[_survey(row, text_limit) for row in surveys],
        success_plan=active_plan_of(db, account_id, today=today),
    )


def _changed_since(account: Any, assessed_at: datetime, renewal: Any) -> str | None:
    """What changed on the account after its assessment was made and is not assessed yet, in words."""
    marked_at, reason = account.changed_at, account.change_reason
    if marked_at is None or marked_at <= assessed_at:
        return None
    now_stands = ""
    if reason == "renewal.update" and renewal is not None:
        forecast = f", forecast {renewal.forecast_amount} {renewal.currency}" if renewal.forecast_amount else ""
        now_stands = f" (now {renewal.stage}{forecast})"
    return (f"assessed before: {change_words(reason)} on {marked_at.date().isoformat()}{now_stands}; "
            "the next assessment takes it in")


def _touchpoint(row: Any, author_email: str, limit: int) -> TouchpointOut:
    summary, cut = validation.truncate(row.summary, limit)
    return TouchpointOut(id=row.id, kind=row.kind, occurred_at=row.occurred_at, summary=summary,
                         contact_id=row.contact_id, author=author_email, truncated=cut)


def _note(row: Any, author_email: str, limit: int) -> NoteOut:
    body, cut = validation.truncate(row.body, limit)
    return NoteOut(id=row.id, author=author_email, sentiment=row.sentiment, created_at=row.created_at,
                   body=body, truncated=cut)


def _survey(row: Any, limit: int) -> SurveyOut:
    comment = validation.truncate(row.comment, limit)[0] if row.comment else None
    return SurveyOut(kind=row.kind, score=row.score, comment=comment, responded_at=row.responded_at,
                     contact_id=row.contact_id)


def _support(db: Connection, *, account_id: int, now: datetime) -> SupportSummary:
    tickets_read = rows(db, TICKETS, {"account_id": account_id, "closed_since": now - SUPPORT_WINDOW})
    open_rows = [row for row in tickets_read if row.closed_at is None]
    closed_recently = len(tickets_read) - len(open_rows)
    tickets = [TicketOut(id=t.id, subject=t.subject, priority=t.priority, opened_at=t.opened_at, due_at=t.due_at,
                         escalated=t.escalated, overdue=t.due_at is not None and t.due_at < now)
               for t in open_rows]
    return SupportSummary(open=len(tickets), overdue=sum(t.overdue for t in tickets),
                          escalated=sum(t.escalated for t in tickets), closed_last_90_days=closed_recently,
                          open_tickets=tickets[:RECENT_ITEMS])
