"""ORM tables. Money is Numeric (exact), timestamps are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so that SQLite batch migrations can find and alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)


def insert_defaults(table: Any) -> dict[str, Any]:
    """Each column's scalar default (or None): what a bulk INSERT, which skips the ORM's flush, must fill in."""
    return {column.key: column.default.arg if column.default is not None and column.default.is_scalar else None
            for column in table.columns}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        Index("ix_accounts_owner_arr", "owner_id", "arr"),
        # The retention view: one CSM's accounts in some health statuses, renewing in a window.
        Index("ix_accounts_owner_health_renewal", "owner_id", "health_status", "renewal_date"),
        Index("ix_accounts_renewal_date", "renewal_date"),
        Index("ix_accounts_arr", "arr"),
        Index("ix_accounts_health_score", "health_score"),
        Index("ix_accounts_health_confidence", "health_confidence"),
        Index("ix_accounts_status_health", "status", "health_status"),
        Index("ix_accounts_segment", "segment"),
        Index("ix_accounts_name_lower", "name_lower"),
        Index("uq_accounts_external_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-cased copy of name: free-text search and case-insensitive uniqueness on every backend.
    name_lower: Mapped[str] = mapped_column(String(200), unique=True)
    domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    # The account's id in the team's CRM or billing system: how imports and feeds find it.
    external_id: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    segment: Mapped[str] = mapped_column(String(20))
    lifecycle_stage: Mapped[str] = mapped_column(String(20))
    arr: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    seats: Mapped[int] = mapped_column(Integer)
    contract_start: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    onboarding_status: Mapped[str] = mapped_column(String(20))
    churn_risk_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    churned_on: Mapped[date | None] = mapped_column(Date)
    # The current assessment, copied here for the retention view; written by the assessment agent
    # without bumping `version`, so a CSM's edit never conflicts with a background assessment.
    health_status: Mapped[str | None] = mapped_column(String(20))
    health_score: Mapped[float | None] = mapped_column(Float)
    # high / medium / low: how much of the health model the latest assessment had data for.
    health_confidence: Mapped[str | None] = mapped_column(String(6))
    health_trend: Mapped[str | None] = mapped_column(String(12))
    assessed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Shared-cycle bookkeeping (`csdesk run --worker`), not user fields: the worker run that last
    # claimed the account, and when it finished it (NULL while in flight; see store.runs.agent_runs).
    cycle_run_id: Mapped[int | None] = mapped_column(Integer)
    cycle_done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("account_id", "email", name="uq_contacts_account_email"),
                      Index("uq_contacts_account_external", "account_id", "external_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    title: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    is_primary_sponsor: Mapped[bool] = mapped_column(Boolean, default=False)
    left_company_on: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class HealthNote(Base):
    __tablename__ = "health_notes"
    __table_args__ = (Index("ix_health_notes_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    sentiment: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Touchpoint(Base):
    __tablename__ = "touchpoints"
    __table_args__ = (Index("ix_touchpoints_account_occurred", "account_id", "occurred_at"),
                      Index("uq_touchpoints_account_external", "account_id", "external_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    summary: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The id in the tool it was imported from (a call or meeting id), so a re-import updates it.
    external_id: Mapped[str | None] = mapped_column(String(200))


class UsageSnapshot(Base):
    __tablename__ = "usage_snapshots"
    __table_args__ = (UniqueConstraint("account_id", "period_start", name="uq_usage_account_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    active_users: Mapped[int] = mapped_column(Integer)
    usage_count: Mapped[int] = mapped_column(Integer)
    features_adopted: Mapped[int] = mapped_column(Integer)
    # The month is still being counted from live events: the signals read it as a month in progress.
    running: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (Index("ix_support_tickets_account_opened", "account_id", "opened_at"),
                      Index("uq_support_tickets_account_external", "account_id", "external_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    priority: Mapped[str] = mapped_column(String(10))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    csat: Mapped[int | None] = mapped_column(Integer)
    # The ticket's id in the help desk it was imported from.
    external_id: Mapped[str | None] = mapped_column(String(200))


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_account_responded", "account_id", "responded_at"),
                      Index("uq_survey_responses_account_external", "account_id", "external_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(4))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The response's id in the survey tool it was imported from.
    external_id: Mapped[str | None] = mapped_column(String(200))


class Renewal(Base):
    __tablename__ = "renewals"
    __table_args__ = (
        UniqueConstraint("account_id", "due_date", name="uq_renewals_account_due"),
        Index("ix_renewals_due_stage", "due_date", "stage"),
        Index("ix_renewals_owner_due", "owner_id", "due_date"),
        # A CSM's open renewals coming due, without walking past their closed history.
        Index("ix_renewals_owner_stage_due", "owner_id", "stage", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    target_amount: Mapped[Decimal] = mapped_column(Money)
    forecast_amount: Mapped[Decimal] = mapped_column(Money)
    final_amount: Mapped[Decimal | None] = mapped_column(Money)
    stage: Mapped[str] = mapped_column(String(20))
    booking_type: Mapped[str | None] = mapped_column(String(12))
    closed_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class SuccessPlan(Base):
    """What the customer wants from the product, agreed with them: outcomes with metrics, and milestones.
    Several over time; one active at most. Its version covers its outcomes and milestones too."""

    __tablename__ = "success_plans"
    __table_args__ = (
        Index("uq_success_plans_active", "account_id", unique=True, sqlite_where=text("status = 'active'"),
              postgresql_where=text("status = 'active'")),
        Index("uq_success_plans_account_external", "account_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="active")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class PlanOutcome(Base):
    """One thing the customer wants, in their words, with the metric that shows it."""

    __tablename__ = "plan_outcomes"
    __table_args__ = (
        Index("ix_plan_outcomes_account_status", "account_id", "status"),
        Index("uq_plan_outcomes_plan_external", "plan_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("success_plans.id", ondelete="CASCADE"), index=True)
    # The plan's account, kept here so that signals and filters read outcomes by account.
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    metric_name: Mapped[str] = mapped_column(String(120))
    metric_unit: Mapped[str] = mapped_column(String(30))
    baseline: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    target: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    current_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    measured_on: Mapped[date | None] = mapped_column(Date)
    target_date: Mapped[date] = mapped_column(Date)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="on_track")
    achieved_on: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PlanMilestone(Base):
    __tablename__ = "plan_milestones"
    __table_args__ = (
        Index("ix_plan_milestones_account_open", "account_id", "completed_on", "due_on"),
        Index("uq_plan_milestones_plan_external", "plan_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("success_plans.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    outcome_id: Mapped[int | None] = mapped_column(ForeignKey("plan_outcomes.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_date"),
        Index("ix_tasks_account_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    source: Mapped[str] = mapped_column(String(10), default="manual")
    # Playbooks and imports set a key so that a re-run never creates the same task twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read_created", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    principal: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AgentRun(Base):
    __tablename__ = "agent_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # Real time (never the pinned demo clock), renewed while the run works: a "running" run whose
    # heartbeat is older than the lease is dead.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Where the run's process runs (store.runs.process_identity): on that machine, a run whose process has
    # ended is known dead at once, without waiting out the lease.
    machine: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class Assessment(Base):
    __tablename__ = "assessments"
    # Covering: "status as of a date" per account is read from the index alone (store.crm.portfolio);
    # by time alone: whether any assessment falls in a stretch of time (store.crm.portfolio_snapshots).
    __table_args__ = (Index("ix_assessments_account_created_status", "account_id", "created_at", "id", "status"),
                      Index("ix_assessments_created_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("agent_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # "rules", or "llm:<model>"; a failed model answer is stored as "rules" with fallback_reason set.
    method: Mapped[str] = mapped_column(String(120))
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    rules_score: Mapped[float] = mapped_column(Float)
    trend: Mapped[str] = mapped_column(String(12))
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    drivers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    next_actions: Mapped[list[str]] = mapped_column(JSON)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    confidence: Mapped[str | None] = mapped_column(String(6))
    # The share of the model's weight that had data, per dimension, and what was missing.
    coverage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input_digest: Mapped[str] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)


class Draft(Base):
    """Drafted outreach waiting for, or past, a human reviewer's decision."""

    __tablename__ = "drafts"
    # The review queue: a status's drafts oldest first, in the index's own order (ties by id).
    __table_args__ = (Index("ix_drafts_status_created_id", "status", "created_at", "id"),
                      Index("ix_drafts_account", "account_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))
    # Playbook drafts carry a key so that a re-run never drafts the same outreach twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    to_name: Mapped[str] = mapped_column(String(200))
    to_email: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(200))
    from_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # What was drafted before a reviewer's edit; null while unedited.
    original_subject: Mapped[str | None] = mapped_column(String(200))
    original_body: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    # What it was written from (facts by label, template, instruction, sender's domains), so the review
    # queue can show where each link, address, figure and term came from; null for older drafts.
    grounding: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(120))
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(254))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stale_reason: Mapped[str | None] = mapped_column(Text)
    send_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivery: Mapped[str | None] = mapped_column(Text)
    delivery_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ApiToken(Base):
    """A bearer token for one user. Only its SHA-256 hash is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Null: the token never expires (only for service accounts that rotate by revoking).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RevenueEvent(Base):
    """One change to an account's contracted ARR (or a renewal closed flat): the rows behind GRR and NRR.

    `arr_after` is the account's ARR from `occurred_on` on, 0 once churned; the latest event on or
    before a day gives the account's ARR that day.
    """

    __tablename__ = "revenue_events"
    # Covering: "ARR as of a date" per account is read from the index alone (store.crm.revenue, store.crm.portfolio).
    __table_args__ = (Index("ix_revenue_events_account_occurred_amount", "account_id", "occurred_on", "id",
                            "currency", "arr_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    arr_before: Mapped[Decimal] = mapped_column(Money)
    arr_after: Mapped[Decimal] = mapped_column(Money)
    renewal_id: Mapped[int | None] = mapped_column(ForeignKey("renewals.id", ondelete="SET NULL"))
    # Which write recorded it: account.create, account.update, renewal.close, import, demo, migration.
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProductEvent(Base):
    """One event as a Segment-compatible source sent it, kept for a window (CSDESK_EVENTS_KEEP_DAYS) so
    the usage it rolled up to can be rebuilt after a user's account changes.

    Ingestion only stores events (state NEW); the roll-up (store.events.rollup) reads them in order,
    applies identify and group calls, counts activity into usage and moves each event on: COUNTED
    (activity counted for an account), WAITING (activity of a user in no known account yet, counted
    when their group call names one) or APPLIED (an identify, group or alias call).
    """

    __tablename__ = "product_events"
    __table_args__ = (Index("ix_product_events_user_occurred", "user_key", "occurred_at"),
                      Index("ix_product_events_received", "received_at"),
                      Index("ix_product_events_new", "id", sqlite_where=text("state = 0"),
                            postgresql_where=text("state = 0")),
                      Index("ix_product_events_waiting", "user_key", sqlite_where=text("state = 2"),
                            postgresql_where=text("state = 2")))

    id: Mapped[int] = mapped_column(primary_key=True)
    # The sender's id for the event: a resent event carries the same one and is stored once.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(10))
    # The product user: their userId, else "anon:" and their anonymousId.
    user_key: Mapped[str] = mapped_column(String(210))
    # A track call's event name, a page or screen call's name.
    name: Mapped[str | None] = mapped_column(String(200))
    # What the event adopts, when it counts as a feature: the event name or the configured property.
    feature: Mapped[str | None] = mapped_column(String(200))
    # A group call's groupId; an identify call's email trait.
    group_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    # The event's JSON as received (at most 32 KB).
    body: Mapped[str] = mapped_column(Text)


class ProductUser(Base):
    """A user of the customer's product, as identify and group calls describe them."""

    __tablename__ = "product_users"

    user_key: Mapped[str] = mapped_column(String(210), primary_key=True)
    # The groupId of the latest group call, and the account it names (null: no account has that id).
    group_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventUsage(Base):
    """An account's month as counted from events: what its usage snapshot says (usage_count, active_users,
    features_adopted). Its rows mark the months that events, not files, are the source of."""

    __tablename__ = "event_usage"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(Integer)
    users: Mapped[int] = mapped_column(Integer)
    features: Mapped[int] = mapped_column(Integer)


class EventUsageUser(Base):
    """A product user active for an account in a month (their count is the month's active_users)."""

    __tablename__ = "event_usage_users"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(210), primary_key=True)


class EventUsageFeature(Base):
    """A feature used for an account in a month (their count is the month's features_adopted)."""

    __tablename__ = "event_usage_features"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    feature: Mapped[str] = mapped_column(String(200), primary_key=True)


class AccountMark(Base):
    """An account whose signals changed since it was last assessed: `csdesk worker --watch` assesses it.

    `pending_since` is the first change not yet assessed (null: none is pending); a change that arrives
    while a worker holds the account moves `marked_at` past `claimed_at`, so the account stays pending.
    """

    __tablename__ = "account_marks"
    __table_args__ = (Index("ix_account_marks_pending", "pending_since"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Why it was marked last: events, import.usage, import.tickets, ...
    reason: Mapped[str] = mapped_column(String(40))
    claimed_by: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    assessed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Seconds from the first pending change to the assessment that took it in.
    lag_seconds: Mapped[float | None] = mapped_column(Numeric(10, 3, asdecimal=False))


class IngestRejection(Base):
    """A request with a valid write key that was refused (nothing of it stored), for `csdesk events status`."""

    __tablename__ = "ingest_rejections"
    __table_args__ = (Index("ix_ingest_rejections_received", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))


class PortfolioSnapshot(Base):
    """Portfolio figures for the whole portfolio as computed at `computed_for`, with what they were
    computed from: the newest audit and revenue ids then, and how many relevant rows sat in the newest
    ids' range (so that a row committed late under a lower id is noticed). See store.crm.portfolio_snapshots."""

    __tablename__ = "portfolio_snapshots"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    computed_for: Mapped[datetime] = mapped_column(UtcDateTime())
    audit_seen: Mapped[int] = mapped_column(Integer)
    audit_recent: Mapped[int] = mapped_column(Integer)
    revenue_seen: Mapped[int] = mapped_column(Integer)
    revenue_recent: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
