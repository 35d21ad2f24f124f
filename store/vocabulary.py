"""The closed vocabularies of the CRM, shared by models, schemas and validation."""

from typing import Literal, get_args

Role = Literal["csm", "manager", "reviewer", "admin", "agent"]
Segment = Literal["enterprise", "mid_market", "smb"]
LifecycleStage = Literal["onboarding", "adoption", "growth", "mature"]
OnboardingStatus = Literal["not_started", "in_progress", "completed", "stalled"]
AccountStatus = Literal["active", "churned"]
HealthStatus = Literal["strongly_thriving", "actively_engaged", "neutral", "needs_attention", "at_risk"]
ContactRole = Literal["executive_sponsor", "champion", "budget_holder", "user"]
Sentiment = Literal["positive", "neutral", "negative"]
TouchpointKind = Literal["meeting", "call", "email_out", "email_in", "qbr"]
TicketPriority = Literal["low", "normal", "high", "urgent"]
SurveyKind = Literal["nps", "csat"]
RenewalStage = Literal["upcoming", "in_discussion", "proposal_sent", "verbal_commit", "closed_won", "closed_lost"]
BookingType = Literal["flat", "expansion", "contraction", "churn"]
# What happened to an account's ARR: the facts retention metrics are computed from.
RevenueEventKind = Literal["new", "expansion", "contraction", "renewal", "churn", "reactivation"]
OutcomeStatus = Literal["on_track", "at_risk", "achieved", "missed", "dropped"]
PlanAction = Literal["start", "set_outcome", "record_value", "add_milestone", "complete_milestone", "close"]
TaskStatus = Literal["open", "in_progress", "done", "cancelled"]
TaskPriority = Literal["low", "normal", "high", "urgent"]
TaskSource = Literal["manual", "playbook", "agent", "import"]

ROLES: tuple[str, ...] = get_args(Role)
SEGMENTS: tuple[str, ...] = get_args(Segment)
LIFECYCLE_STAGES: tuple[str, ...] = get_args(LifecycleStage)
ONBOARDING_STATUSES: tuple[str, ...] = get_args(OnboardingStatus)
HEALTH_STATUSES: tuple[str, ...] = get_args(HealthStatus)
CONTACT_ROLES: tuple[str, ...] = get_args(ContactRole)
RENEWAL_STAGES: tuple[str, ...] = get_args(RenewalStage)
REVENUE_EVENT_KINDS: tuple[str, ...] = get_args(RevenueEventKind)
OUTCOME_STATUSES: tuple[str, ...] = get_args(OutcomeStatus)
PLAN_ACTIONS: tuple[str, ...] = get_args(PlanAction)
OPEN_RENEWAL_STAGES: tuple[str, ...] = ("upcoming", "in_discussion", "proposal_sent", "verbal_commit")
CLOSED_RENEWAL_STAGES: tuple[str, ...] = ("closed_won", "closed_lost")
OPEN_TASK_STATUSES: tuple[str, ...] = ("open", "in_progress")

# Roles that may write any account; a csm writes only the accounts it owns.
PORTFOLIO_WRITER_ROLES: frozenset[str] = frozenset({"manager", "admin"})
# Roles that can own accounts and be assigned tasks.
ASSIGNABLE_ROLES: frozenset[str] = frozenset({"csm", "manager", "admin", "reviewer"})
