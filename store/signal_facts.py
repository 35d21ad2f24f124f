"""The raw facts behind health signals, loaded for many accounts at once (a query per table, not per account)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    Account,
    Contact,
    HealthNote,
    Renewal,
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


@dataclass(frozen=True)
class Usage:
    period_start: date
    active_users: int
    usage_count: int
    features_adopted: int


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
    health_score: int | None
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


async def load_facts(session: AsyncSession, account_ids: Sequence[int], *, as_of: datetime) -> dict[int, AccountFacts]:
    """Facts for the given active accounts, keyed by id (unknown or churned ids are left out)."""
    facts: dict[int, AccountFacts] = {}
    for start in range(0, len(account_ids), CHUNK):
        chunk = list(account_ids[start:start + CHUNK])
        facts.update(await _load_chunk(session, chunk, as_of))
    return facts


async def _load_chunk(session: AsyncSession, ids: list[int], as_of: datetime) -> dict[int, AccountFacts]:
    # Columns, not ORM entities, throughout: these rows are read once and never written back, and
    # skipping the identity map makes a cycle over a large portfolio several times cheaper.
    rows = await session.execute(
        select(Account.id, Account.name, Account.owner_id, Account.segment, Account.seats, Account.arr,
               Account.currency, Account.contract_start, Account.renewal_date, Account.onboarding_status,
               Account.health_score, Account.health_status).where(Account.id.in_(ids), Account.status == "active"))
    facts = {a.id: AccountFacts(account_id=a.id, name=a.name, owner_id=a.owner_id, segment=a.segment, seats=a.seats,
                                arr=a.arr, currency=a.currency, contract_start=a.contract_start,
                                renewal_date=a.renewal_date,
                                onboarding_status=a.onboarding_status, health_score=a.health_score,
                                health_status=a.health_status) for a in rows}
    ids = list(facts)
    if not ids:
        return facts
    # CASE loses the column type; coercing restores the timezone-aware conversion on every backend.
    outbound = type_coerce(func.max(case((Touchpoint.kind.in_(OUTBOUND_KINDS), Touchpoint.occurred_at))),
                           UtcDateTime())
    meeting = type_coerce(func.max(case((Touchpoint.kind.in_(MEETING_KINDS), Touchpoint.occurred_at))), UtcDateTime())
    for account_id, last_outbound, last_meeting in await session.execute(
            select(Touchpoint.account_id, outbound, meeting)
            .where(Touchpoint.account_id.in_(ids), Touchpoint.occurred_at <= as_of).group_by(Touchpoint.account_id)):
        facts[account_id].last_outbound_at = last_outbound
        facts[account_id].last_meeting_at = last_meeting
    for snapshot in await session.execute(
            select(UsageSnapshot.account_id, UsageSnapshot.period_start, UsageSnapshot.active_users,
                   UsageSnapshot.usage_count, UsageSnapshot.features_adopted).where(UsageSnapshot.account_id.in_(ids),
                                        UsageSnapshot.period_start <= as_of.date(),
                                        UsageSnapshot.period_start
                                        >= as_of.date() - timedelta(days=USAGE_LOOKBACK_DAYS))
            .order_by(UsageSnapshot.period_start)):
        facts[snapshot.account_id].usage.append(Usage(snapshot.period_start, snapshot.active_users,
                                                      snapshot.usage_count, snapshot.features_adopted))
    for account_id, due_at, escalated in await session.execute(
            select(SupportTicket.account_id, SupportTicket.due_at, SupportTicket.escalated)
            .where(SupportTicket.account_id.in_(ids), SupportTicket.closed_at.is_(None),
                   SupportTicket.opened_at <= as_of)):
        facts[account_id].open_tickets.append(Ticket(due_at, escalated))
    for survey in await session.execute(
            select(SurveyResponse.id, SurveyResponse.account_id, SurveyResponse.kind, SurveyResponse.score,
                   SurveyResponse.responded_at).where(SurveyResponse.account_id.in_(ids),
                                                      SurveyResponse.responded_at <= as_of,
                                         SurveyResponse.responded_at >= as_of - timedelta(days=SURVEY_LOOKBACK_DAYS))
            .order_by(SurveyResponse.responded_at, SurveyResponse.id)):
        facts[survey.account_id].surveys.append(Survey(survey.id, survey.kind, survey.score, survey.responded_at))
    await _load_relationships(session, ids, facts)
    return facts


async def _load_relationships(session: AsyncSession, ids: list[int], facts: dict[int, AccountFacts]) -> None:
    sponsors: dict[int, list[Any]] = defaultdict(list)
    for contact in await session.execute(
            select(Contact.id, Contact.account_id, Contact.name, Contact.is_primary_sponsor,
                   Contact.left_company_on).where(Contact.account_id.in_(ids),
                                  (Contact.is_primary_sponsor.is_(True)) | (Contact.role == "executive_sponsor"))):
        sponsors[contact.account_id].append(contact)
    for account_id, contacts in sponsors.items():
        primary = next((c for c in contacts if c.is_primary_sponsor), None)
        if primary is not None:
            facts[account_id].primary_sponsor = Sponsor(primary.id, primary.name, primary.left_company_on)
        facts[account_id].has_executive_sponsor = any(c.left_company_on is None for c in contacts)
    for renewal in await session.execute(
            select(Renewal.id, Renewal.account_id, Renewal.due_date, Renewal.stage, Renewal.target_amount,
                   Renewal.forecast_amount).where(Renewal.account_id.in_(ids), Renewal.stage.in_(OPEN_RENEWAL_STAGES))
            .order_by(Renewal.due_date.desc())):
        # Ordered latest first, so the earliest open renewal is the one that stays.
        facts[renewal.account_id].open_renewal = OpenRenewal(renewal.id, renewal.due_date, renewal.stage,
                                                             renewal.target_amount, renewal.forecast_amount)
    for account_id, note_id in await session.execute(
            select(HealthNote.account_id, func.max(HealthNote.id)).where(HealthNote.account_id.in_(ids))
            .group_by(HealthNote.account_id)):
        facts[account_id].latest_note_id = note_id

