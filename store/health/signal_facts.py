"""The raw facts behind health signals, loaded for many accounts at once (a query per table, not per account)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, bindparam, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.engine import core_rows
from store.database.models import (
    Account,
    Contact,
    HealthNote,
    PlanMilestone,
    PlanOutcome,
    Renewal,
    SuccessPlan,
    SupportTicket,
    SurveyResponse,
    Touchpoint,
    UsageSnapshot,
    UtcDateTime,
)
from store.vocabulary import OPEN_RENEWAL_STAGES

CHUNK = 500
OUTBOUND_KINDS = ("meeting", "call", "email_out", "qbr")
MEETING_KINDS = ("meeting", "qbr")
USAGE_LOOKBACK_DAYS = 200
SURVEY_LOOKBACK_DAYS = 365
# Support load, people engaged and replies to outreach are judged over this window; ticket ratings over
# the longer one (few tickets are rated).
RECENT_DAYS = 90
TICKET_RATING_DAYS = 180
# A reply counts for the email it follows within this many days.
REPLY_WITHIN_DAYS = 14


@dataclass(frozen=True)
class Usage:
    period_start: date
    active_users: int
    usage_count: int
    features_adopted: int
    # Still being counted from live events (see store.events.ingest).
    running: bool = False


@dataclass(frozen=True)
class Ticket:
    due_at: datetime | None
    escalated: bool


@dataclass(frozen=True)
class Survey:
    id: int
    kind: str
    score: int
    responded_at: datetime


@dataclass(frozen=True)
class Sponsor:
    id: int
    name: str
    left_company_on: date | None


@dataclass(frozen=True)
class OpenRenewal:
    id: int
    due_date: date
    stage: str
    target_amount: Decimal
    forecast_amount: Decimal


@dataclass(frozen=True)
class PlanOutcomeFact:
    id: int
    description: str
    metric: str
    unit: str
    baseline: Decimal
    target: Decimal
    current_value: Decimal | None
    target_date: date
    status: str
    achieved_on: date | None


def progress(outcome: Any) -> float | None:
    """How far from baseline to target an outcome's latest value is (0 at baseline, 1 at target), or None."""
    if outcome.current_value is None or outcome.target == outcome.baseline:
        return None
    return float((outcome.current_value - outcome.baseline) / (outcome.target - outcome.baseline))


@dataclass(frozen=True)
class MilestoneFact:
    id: int
    title: str
    due_on: date
    completed_on: date | None


@dataclass
class PlanFacts:
    """The account's active success plan."""

    id: int
    title: str
    starts_on: date
    outcomes: list[PlanOutcomeFact] = field(default_factory=list)
    milestones: list[MilestoneFact] = field(default_factory=list)


@dataclass
class AccountFacts:
    """Everything the signals of one account are computed from."""

    account_id: int
    name: str
    owner_id: int
    segment: str
    seats: int
    arr: Decimal
    currency: str
    contract_start: date | None
    renewal_date: date | None
    onboarding_status: str
    health_score: float | None
    health_status: str | None
    last_outbound_at: datetime | None = None
    last_meeting_at: datetime | None = None
    usage: list[Usage] = field(default_factory=list)
    open_tickets: list[Ticket] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    primary_sponsor: Sponsor | None = None
    has_executive_sponsor: bool = False
    open_renewal: OpenRenewal | None = None
    latest_note_id: int | None = None
    # Any touchpoint at all on record: without one, contact history is missing, not bad.
    has_touchpoints: bool = False
    contact_count: int = 0
    tickets_recent: int = 0
    ticket_ratings: list[int] = field(default_factory=list)
    # The roles of the distinct people engaged recently (touchpoints naming a contact); None when no
    # touchpoint on record names anyone, so who was engaged is not known.
    engaged_roles: list[str] | None = None
    emails_out_recent: int = 0
    emails_answered_recent: int = 0
    plan: PlanFacts | None = None


async def load_facts(session: AsyncSession, account_ids: Sequence[int], *, as_of: datetime,
                     replay: bool = False) -> dict[int, AccountFacts]:
    """Facts for the given active accounts, keyed by id (unknown or churned ids are left out).

    With `replay`, the facts as they stood at a past `as_of`, for a backtest: churned accounts too, a
    sponsor counts as gone only from the day they left, and the renewal then ahead is open. Its stage and
    forecast are taken as at its start (upcoming, forecast = target): csdesk keeps no history of them,
    and today's values would tell the outcome.
    """
    facts: dict[int, AccountFacts] = {}
    for start in range(0, len(account_ids), CHUNK):
        chunk = list(account_ids[start:start + CHUNK])
        facts.update(await _load_chunk(session, chunk, as_of, replay))
    return facts


_IDS = bindparam("ids", expanding=True)
_AS_OF = bindparam("as_of", type_=UtcDateTime())
# CASE loses the column type; coercing restores the timezone-aware conversion on every backend.
_LAST_OUTBOUND = type_coerce(func.max(case((Touchpoint.kind.in_(OUTBOUND_KINDS), Touchpoint.occurred_at))),
                             UtcDateTime()).label("last_outbound_at")
_LAST_MEETING = type_coerce(func.max(case((Touchpoint.kind.in_(MEETING_KINDS), Touchpoint.occurred_at))),
                            UtcDateTime()).label("last_meeting_at")
# Columns, not ORM entities, throughout, each statement built once and read through core_rows: these
# rows are read once and never written back, and at 100,000 accounts the ORM's result handling for them
# cost more than the queries.
ANY_ACCOUNTS = select(Account.id, Account.name, Account.owner_id, Account.segment, Account.seats, Account.arr,
                      Account.currency, Account.contract_start, Account.renewal_date, Account.onboarding_status,
                      Account.health_score, Account.health_status).where(Account.id.in_(_IDS))
ACCOUNTS = ANY_ACCOUNTS.where(Account.status == "active")
# With how many of them name a contact: none means who was engaged is not known.
TOUCHPOINTS = select(Touchpoint.account_id, _LAST_OUTBOUND, _LAST_MEETING,
                     func.count(Touchpoint.contact_id).label("naming")) \
    .where(Touchpoint.account_id.in_(_IDS), Touchpoint.occurred_at <= _AS_OF).group_by(Touchpoint.account_id)
USAGE = select(UsageSnapshot.account_id, UsageSnapshot.period_start, UsageSnapshot.active_users,
               UsageSnapshot.usage_count, UsageSnapshot.features_adopted, UsageSnapshot.running) \
    .where(UsageSnapshot.account_id.in_(_IDS), UsageSnapshot.period_start <= bindparam("usage_to", type_=Date()),
           UsageSnapshot.period_start >= bindparam("usage_from", type_=Date())) \
    .order_by(UsageSnapshot.period_start)
# Open as of the moment asked about: a ticket closed since was open then.
OPEN_TICKETS = select(SupportTicket.account_id, SupportTicket.due_at, SupportTicket.escalated) \
    .where(SupportTicket.account_id.in_(_IDS), SupportTicket.opened_at <= _AS_OF,
           SupportTicket.closed_at.is_(None) | (SupportTicket.closed_at > _AS_OF))
_SINCE = bindparam("since", type_=UtcDateTime())
RECENT_TICKETS = select(SupportTicket.account_id, func.count().label("opened")) \
    .where(SupportTicket.account_id.in_(_IDS), SupportTicket.opened_at <= _AS_OF, SupportTicket.opened_at > _SINCE) \
    .group_by(SupportTicket.account_id)
TICKET_RATINGS = select(SupportTicket.account_id, SupportTicket.csat) \
    .where(SupportTicket.account_id.in_(_IDS), SupportTicket.csat.is_not(None), SupportTicket.closed_at <= _AS_OF,
           SupportTicket.closed_at > bindparam("rated_since", type_=UtcDateTime()))
# The recent touchpoints in detail: who was engaged, and which emails had a reply.
RECENT_TOUCHPOINTS = select(Touchpoint.account_id, Touchpoint.kind, Touchpoint.occurred_at, Touchpoint.contact_id,
                            Contact.role) \
    .outerjoin(Contact, Contact.id == Touchpoint.contact_id) \
    .where(Touchpoint.account_id.in_(_IDS), Touchpoint.occurred_at <= _AS_OF, Touchpoint.occurred_at > _SINCE) \
    .order_by(Touchpoint.occurred_at)
ACTIVE_PLANS = select(SuccessPlan.id, SuccessPlan.account_id, SuccessPlan.title, SuccessPlan.starts_on) \
    .where(SuccessPlan.account_id.in_(_IDS), SuccessPlan.status == "active")
_PLAN_IDS = bindparam("plan_ids", expanding=True)
PLAN_OUTCOMES = select(PlanOutcome.plan_id, PlanOutcome.id, PlanOutcome.description, PlanOutcome.metric_name,
                       PlanOutcome.metric_unit, PlanOutcome.baseline, PlanOutcome.target, PlanOutcome.current_value,
                       PlanOutcome.target_date, PlanOutcome.status, PlanOutcome.achieved_on) \
    .where(PlanOutcome.plan_id.in_(_PLAN_IDS)).order_by(PlanOutcome.id)
PLAN_MILESTONES = select(PlanMilestone.plan_id, PlanMilestone.id, PlanMilestone.title, PlanMilestone.due_on,
                         PlanMilestone.completed_on) \
    .where(PlanMilestone.plan_id.in_(_PLAN_IDS)).order_by(PlanMilestone.due_on, PlanMilestone.id)
CONTACT_COUNTS = select(Contact.account_id, func.count().label("contacts")) \
    .where(Contact.account_id.in_(_IDS), Contact.left_company_on.is_(None)).group_by(Contact.account_id)
SURVEYS = select(SurveyResponse.id, SurveyResponse.account_id, SurveyResponse.kind, SurveyResponse.score,
                 SurveyResponse.responded_at) \
    .where(SurveyResponse.account_id.in_(_IDS), SurveyResponse.responded_at <= _AS_OF,
           SurveyResponse.responded_at >= bindparam("survey_from", type_=UtcDateTime())) \
    .order_by(SurveyResponse.responded_at, SurveyResponse.id)
SPONSORS = select(Contact.id, Contact.account_id, Contact.name, Contact.is_primary_sponsor, Contact.left_company_on) \
    .where(Contact.account_id.in_(_IDS), (Contact.is_primary_sponsor.is_(True)) | (Contact.role == "executive_sponsor"))
# Latest first, so the earliest open renewal is the one that stays.
OPEN_RENEWALS = select(Renewal.id, Renewal.account_id, Renewal.due_date, Renewal.stage, Renewal.target_amount,
                       Renewal.forecast_amount) \
    .where(Renewal.account_id.in_(_IDS), Renewal.stage.in_(OPEN_RENEWAL_STAGES)).order_by(Renewal.due_date.desc())
# A replay's renewals: every one due from the moment on, whatever its stage now.
RENEWALS_AHEAD = select(Renewal.id, Renewal.account_id, Renewal.due_date, Renewal.stage, Renewal.target_amount,
                        Renewal.forecast_amount) \
    .where(Renewal.account_id.in_(_IDS), Renewal.due_date >= bindparam("from_day", type_=Date())) \
    .order_by(Renewal.due_date.desc())
LATEST_NOTES = select(HealthNote.account_id, func.max(HealthNote.id).label("latest_note_id")) \
    .where(HealthNote.account_id.in_(_IDS)).group_by(HealthNote.account_id)


async def _load_chunk(session: AsyncSession, ids: list[int], as_of: datetime, replay: bool) -> dict[int, AccountFacts]:
    facts = {a.id: AccountFacts(account_id=a.id, name=a.name, owner_id=a.owner_id, segment=a.segment, seats=a.seats,
                                arr=a.arr, currency=a.currency, contract_start=a.contract_start,
                                renewal_date=a.renewal_date,
                                onboarding_status=a.onboarding_status, health_score=a.health_score,
                                health_status=a.health_status)
             for a in await core_rows(session, ANY_ACCOUNTS if replay else ACCOUNTS, {"ids": ids})}
    if not facts:
        return facts
    by_ids = {"ids": list(facts)}
    for account_id, last_outbound, last_meeting, naming in await core_rows(session, TOUCHPOINTS,
                                                                           {**by_ids, "as_of": as_of}):
        facts[account_id].last_outbound_at = last_outbound
        facts[account_id].last_meeting_at = last_meeting
        facts[account_id].has_touchpoints = True
        facts[account_id].engaged_roles = [] if naming else None
    for account_id, *usage in await core_rows(session, USAGE, {
            **by_ids, "usage_to": as_of.date(), "usage_from": as_of.date() - timedelta(days=USAGE_LOOKBACK_DAYS)}):
        facts[account_id].usage.append(Usage(*usage))
    for account_id, due_at, escalated in await core_rows(session, OPEN_TICKETS, {**by_ids, "as_of": as_of}):
        facts[account_id].open_tickets.append(Ticket(due_at, escalated))
    for survey in await core_rows(session, SURVEYS, {
            **by_ids, "as_of": as_of, "survey_from": as_of - timedelta(days=SURVEY_LOOKBACK_DAYS)}):
        facts[survey.account_id].surveys.append(Survey(survey.id, survey.kind, survey.score, survey.responded_at))
    await _load_relationships(session, by_ids, facts, as_of, replay)
    await _load_recent_activity(session, by_ids, facts, as_of)
    if not replay:  # a plan's history is not kept: a replay of a past moment reads none
        await _load_plans(session, by_ids, facts)
    return facts


async def _load_plans(session: AsyncSession, by_ids: dict[str, list[int]], facts: dict[int, AccountFacts]) -> None:
    plans: dict[int, PlanFacts] = {}
    for plan_id, account_id, title, starts_on in await core_rows(session, ACTIVE_PLANS, by_ids):
        plans[plan_id] = facts[account_id].plan = PlanFacts(plan_id, title, starts_on)
    if not plans:
        return
    for plan_id, *outcome in await core_rows(session, PLAN_OUTCOMES, {"plan_ids": list(plans)}):
        plans[plan_id].outcomes.append(PlanOutcomeFact(*outcome))
    for plan_id, *milestone in await core_rows(session, PLAN_MILESTONES, {"plan_ids": list(plans)}):
        plans[plan_id].milestones.append(MilestoneFact(*milestone))


async def _load_recent_activity(session: AsyncSession, by_ids: dict[str, list[int]], facts: dict[int, AccountFacts],
                                as_of: datetime) -> None:
    since = as_of - timedelta(days=RECENT_DAYS)
    for account_id, opened in await core_rows(session, RECENT_TICKETS, {**by_ids, "as_of": as_of, "since": since}):
        facts[account_id].tickets_recent = opened
    for account_id, csat in await core_rows(session, TICKET_RATINGS, {
            **by_ids, "as_of": as_of, "rated_since": as_of - timedelta(days=TICKET_RATING_DAYS)}):
        facts[account_id].ticket_ratings.append(csat)
    for account_id, contacts in await core_rows(session, CONTACT_COUNTS, by_ids):
        facts[account_id].contact_count = contacts
    people: dict[int, dict[int, str]] = defaultdict(dict)
    emails: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    # Replies to the window's first emails may come before it; reading from the window's start is enough
    # for the emails in it.
    for account_id, kind, occurred_at, contact_id, role in await core_rows(
            session, RECENT_TOUCHPOINTS, {**by_ids, "as_of": as_of, "since": since}):
        if contact_id is not None:
            people[account_id][contact_id] = role or "user"
        if kind in ("email_out", "email_in"):
            emails[account_id].append((kind, occurred_at))
    for account_id, engaged in people.items():
        facts[account_id].engaged_roles = sorted(engaged.values())
    for account_id, trail in emails.items():
        sent = [at for kind, at in trail if kind == "email_out"]
        replies = [at for kind, at in trail if kind == "email_in"]
        facts[account_id].emails_out_recent = len(sent)
        facts[account_id].emails_answered_recent = sum(
            1 for at in sent if any(at < reply <= at + timedelta(days=REPLY_WITHIN_DAYS) for reply in replies))


async def _load_relationships(session: AsyncSession, by_ids: dict[str, list[int]], facts: dict[int, AccountFacts],
                              as_of: datetime, replay: bool) -> None:
    sponsors: dict[int, list[Any]] = defaultdict(list)
    for contact in await core_rows(session, SPONSORS, by_ids):
        sponsors[contact.account_id].append(contact)
    for account_id, contacts in sponsors.items():
        primary = next((c for c in contacts if c.is_primary_sponsor), None)
        # Gone from the day they left: a departure dated after the moment asked about had not happened yet.
        left = {c.id: c.left_company_on if c.left_company_on and c.left_company_on <= as_of.date() else None
                for c in contacts}
        if primary is not None:
            facts[account_id].primary_sponsor = Sponsor(primary.id, primary.name, left[primary.id])
        facts[account_id].has_executive_sponsor = any(left[c.id] is None for c in contacts)
    renewals = await core_rows(session, RENEWALS_AHEAD, {**by_ids, "from_day": as_of.date()}) if replay else \
        await core_rows(session, OPEN_RENEWALS, by_ids)
    for renewal in renewals:
        stage, forecast = renewal.stage, renewal.forecast_amount
        if replay:
            stage, forecast = "upcoming", renewal.target_amount
        facts[renewal.account_id].open_renewal = OpenRenewal(renewal.id, renewal.due_date, stage,
                                                             renewal.target_amount, forecast)
    for account_id, note_id in await core_rows(session, LATEST_NOTES, by_ids):
        facts[account_id].latest_note_id = note_id
