"""Public shapes returned by the service layer; separate from the ORM tables on purpose."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

ItemT = TypeVar("ItemT")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Out, Generic[ItemT]):
    items: list[ItemT]
    total: int = Field(description="Rows matching the filters, over all pages.")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class UserOut(Out):
    id: int
    email: str
    name: str
    role: str
    active: bool


class AccountRow(Out):
    """One line of the retention view: what a CSM scans 25 rows of at a time (the rest is in AccountDetail)."""

    id: int
    name: str
    owner: str
    segment: str
    arr: Decimal
    currency: str
    renewal_date: date | None
    days_to_renewal: int | None
    health_status: str | None
    health_score: float | None
    # high / medium / low: how much of the health model the assessment had data for. Undescribed in the
    # schema, as its neighbours are: it sits in several tools' output schemas, and tools/list has a budget.
    health_confidence: str | None = None
    health_trend: str | None
    churn_risk_reason: str | None
    churned_on: date | None = Field(None, description="Set only on churned accounts.")
    version: int


class AccountDetail(AccountRow):
    status: str
    lifecycle_stage: str
    domain: str | None
    external_id: str | None = Field(None, description="The account's id in your CRM or billing system.")
    seats: int
    contract_start: date | None
    onboarding_status: str
    assessed_at: datetime | None


class ContactOut(Out):
    id: int
    name: str
    email: str | None
    title: str | None
    role: str
    is_primary_sponsor: bool
    left_company_on: date | None
    external_id: str | None = None
    version: int


class NoteOut(Out):
    id: int
    author: str
    sentiment: str
    created_at: datetime
    body: str
    truncated: bool = False


class TouchpointOut(Out):
    id: int
    kind: str
    occurred_at: datetime
    summary: str
    contact_id: int | None
    author: str
    truncated: bool = False


class RenewalOut(Out):
    id: int
    account_id: int
    account_name: str
    owner: str
    due_date: date
    days_to_due: int
    stage: str
    currency: str
    target_amount: Decimal
    forecast_amount: Decimal
    final_amount: Decimal | None
    booking_type: str | None
    arr: Decimal
    health_status: str | None
    health_score: float | None
    version: int


class RenewalTotal(Out):
    """What a list of renewals adds up to in one currency."""

    currency: str
    renewals: int
    target: Decimal
    forecast: Decimal


class TaskOut(Out):
    id: int
    account_id: int
    account_name: str
    title: str
    notes: str | None
    assignee: str
    due_date: date | None
    overdue: bool
    status: str
    priority: str
    source: str
    version: int


class NotificationOut(Out):
    id: int
    account_id: int | None
    kind: str
    message: str
    created_at: datetime
    read: bool


class UsageOut(Out):
    period_start: date
    active_users: int
    usage_count: int
    features_adopted: int


class TicketOut(Out):
    id: int
    subject: str
    priority: str
    opened_at: datetime
    due_at: datetime | None
    escalated: bool
    overdue: bool


class SupportSummary(Out):
    open: int
    overdue: int
    escalated: int
    closed_last_90_days: int
    open_tickets: list[TicketOut]


class SurveyOut(Out):
    kind: str
    score: int
    comment: str | None
    responded_at: datetime
    contact_id: int | None


class AssessmentBrief(Out):
    """The current AI health assessment: status, why, and what to do next."""

    created_at: datetime
    method: str
    fallback_reason: str | None
    status: str
    score: float
    # high / medium / low, from the share of the health model that had data; coverage says what was missing
    # and names the model used.
    confidence: str | None = None
    coverage: dict[str, Any] | None = None
    trend: str
    summary: str
    drivers: list[dict[str, Any]]
    next_actions: list[str]
    inputs_changed: str | None = Field(None, description=(
        'Set when the account changed after this assessment was made, e.g. "assessed before: the renewal changed '
        'on 2026-11-23 (now proposal_sent, forecast 120000.00 USD)"; the next assessment takes the change in.'))


class AssessmentOut(AssessmentBrief):
    """A stored assessment in full."""

    id: int
    account_id: int
    dimensions: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int


class OutcomeOut(Out):
    id: int
    description: str
    metric: str
    unit: str
    baseline: Decimal
    target: Decimal
    current_value: Decimal | None
    measured_on: date | None
    target_date: date
    owner: str | None
    status: str
    achieved_on: date | None
    progress: float | None = Field(description="0 at baseline, 1 at target.")
    external_id: str | None = None


class MilestoneOut(Out):
    id: int
    title: str
    due_on: date
    completed_on: date | None
    outcome_id: int | None
    overdue_days: int | None
    external_id: str | None = None


class SuccessPlanOut(Out):
    """The customer's goals: outcomes with their metrics, and milestones."""

    id: int
    account_id: int
    title: str
    status: str
    starts_on: date
    ends_on: date | None
    external_id: str | None
    version: int
    outcomes: list[OutcomeOut]
    milestones: list[MilestoneOut]


class HealthPointOut(Out):
    at: date
    status: str
    score: float


class Account360(Out):
    """Everything about one account, in one call."""

    account: AccountDetail
    assessment: AssessmentBrief | None
    health_history: list[HealthPointOut] = Field(description="Newest first.")
    contacts: list[ContactOut]
    open_renewal: RenewalOut | None
    last_outbound_contact_at: datetime | None
    last_meeting_at: datetime | None
    recent_touchpoints: list[TouchpointOut]
    recent_notes: list[NoteOut]
    open_tasks: list[TaskOut]
    usage: list[UsageOut] = Field(description="Newest first.")
    support: SupportSummary
    surveys: list[SurveyOut] = Field(description="Newest first.")
    success_plan: SuccessPlanOut | None = None


class DraftRow(Out):
    """One line of the review queue."""

    id: int
    account_id: int
    account_name: str
    owner: str
    kind: str
    status: str
    to: str
    subject: str
    author: str
    created_at: datetime
    version: int


class DraftHighlight(Out):
    """A link, address, phone or bank number, markup, figure or commercial term in a draft, and where it
    came from in what the draft was written from (none: nothing accounts for it — check it)."""

    kind: str
    text: str
    where: str = Field(description="subject or body")
    start: int
    end: int
    source: str | None = Field(None, description='e.g. "facts: renewal_date", "instruction", "template"')
    problem: str | None = None


class DraftOut(DraftRow):
    """A draft in full, with why it was written and the account's health beside it."""

    body: str
    reasons: list[str]
    risk: str = Field(description="What in the draft nothing in the account's facts accounts for, in one line.")
    highlights: list[DraftHighlight]
    method: str
    fallback_reason: str | None
    instruction_use: str | None = Field(None, description="How the CSM's instruction reached the message, when "
                                        "there was one: written in by the model, or left as a marked paragraph "
                                        "that must be written in before approval")
    original_subject: str | None
    original_body: str | None
    reviewer: str | None
    review_note: str | None
    decided_at: datetime | None
    stale_reason: str | None
    sent_at: datetime | None
    delivery: str | None
    delivery_error: str | None
    health_status: str | None
    health_score: float | None


# The pages the list tools answer with, named once. Pydantic keeps a parametrised generic such as
# Page[AccountRow] only while something refers to it; written inline in each call, it was dropped and
# rebuilt every few calls, and each rebuild cost more than a whole list call.
AccountPage = Page[AccountRow]
RenewalPage = Page[RenewalOut]
TaskPage = Page[TaskOut]
NotificationPage = Page[NotificationOut]
DraftPage = Page[DraftRow]
