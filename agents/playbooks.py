"""The default playbooks (DESIGN §4): the tasks and notifications an assessment calls for.

`plan_playbooks` is pure: it decides, the caller writes. Every action carries a dedupe key
(account + playbook + window), so a re-run never repeats it. Drafted outreach (check-ins, usage
nudges, sponsor introductions) arrives with the touchpoint agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from agents.rules import BAND_ORDER
from store.health.assessments import PriorAssessment
from store.health.signal_facts import AccountFacts
from store.health.signals import SignalSet
from store.health.thresholds import HealthThresholds
from store.validation import plain_number

EARLY_INDICATORS = ("usage.trend_vs_90d", "usage.month_over_month", "contact.days_since_outbound",
                    "contact.days_since_meeting", "survey.nps", "support.escalations", "sponsor.primary",
                    "support.overdue_tickets")
BELOW_ENGAGED = frozenset({"neutral", "needs_attention", "at_risk"})
WARNING_PLAYBOOKS = frozenset({"early_warning", "at_risk", "renewal_risk"})


@dataclass(frozen=True)
class NewTask:
    playbook: str
    dedupe_key: str
    account_id: int
    assignee_id: int
    title: str
    due: date
    priority: str


@dataclass(frozen=True)
class NewNotification:
    playbook: str
    dedupe_key: str
    account_id: int
    user_id: int
    kind: str
    message: str


@dataclass(frozen=True)
class NewDraft:
    playbook: str
    dedupe_key: str
    account_id: int
    kind: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MarkRisk:
    account_id: int
    reason: str


Action = NewTask | NewNotification | NewDraft | MarkRisk


@dataclass
class PlaybookInputs:
    facts: AccountFacts
    signals: SignalSet
    status: str
    score: float
    prior: PriorAssessment | None
    manager_ids: list[int]
    thresholds: HealthThresholds
    now: datetime
    existing_keys: set[str] = field(default_factory=set)


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _plan_playbooks(inputs: PlaybookInputs, task: Callable[..., None], draft: Callable[..., None],
                    alert: Callable[..., None]) -> None:
    """What the success plan calls for: a milestone well overdue is the owner's task; an outcome achieved is
    worth a value review that cites it; a renewal coming with nothing achieved is worth a warning."""
    facts, t, today = inputs.facts, inputs.thresholds, inputs.now.date()
    plan = facts.plan
    for milestone in plan.milestones if plan else ():
        days = (today - milestone.due_on).days
        if milestone.completed_on is None and days >= t.milestone_overdue_days:
            task("milestone_overdue", f"milestone:{milestone.id}", f"Milestone {milestone.title!r} at {facts.name} "
                 f"is {days} days overdue: agree a new date or unblock it", due=today + timedelta(days=3))
    achieved = [o for o in plan.outcomes if o.status == "achieved"] if plan else []
    for outcome in achieved:
        draft("outcome_achieved", "value_review", f"outcome:{outcome.id}",
              f"Outcome achieved: {outcome.description} ({outcome.metric} {plain_number(outcome.baseline)} → "
              f"{plain_number(outcome.current_value) if outcome.current_value is not None else '—'} "
              f"{outcome.unit}).")
    renewal = inputs.signals.get("renewal.days_to_renewal")
    far = t.renewal_windows_days[0]
    if renewal is not None and isinstance(renewal.value, int) and 0 <= renewal.value <= far and not achieved:
        alert("renewal_without_outcome", str(renewal.ref), [facts.owner_id, *inputs.manager_ids],
              f"{facts.name} renews in {renewal.value} days with no success-plan outcome achieved"
              f"{'' if plan else ' (it has no success plan)'}: show the value it got before the renewal talk.")


def plan_playbooks(inputs: PlaybookInputs) -> list[Action]:
    """The actions this fresh assessment triggers, minus those already taken (by dedupe key)."""
    facts, signals, status, score, prior, t = (inputs.facts, inputs.signals, inputs.status, inputs.score,
                                               inputs.prior, inputs.thresholds)
    account_id, month, today = facts.account_id, inputs.now.strftime("%Y-%m"), inputs.now.date()
    actions: list[Action] = []

    def task(playbook: str, window: str, title: str, due: date, priority: str = "high") -> None:
        key = f"pb:{playbook}:{account_id}:{window}"
        if key not in inputs.existing_keys:
            actions.append(NewTask(playbook, key, account_id, facts.owner_id, title, due, priority))

    def draft(playbook: str, kind: str, window: str, *reasons: str) -> None:
        key = f"pbd:{kind}:{account_id}:{window}"
        if key not in inputs.existing_keys:
            actions.append(NewDraft(playbook, key, account_id, kind, tuple(reasons)))

    def alert(playbook: str, window: str, user_ids: list[int], message: str) -> None:
        for user_id in dict.fromkeys(user_ids):
            key = f"pb:{playbook}:{account_id}:{window}:{user_id}"
            if key not in inputs.existing_keys:
                actions.append(NewNotification(playbook, key, account_id, user_id, playbook, message))

    label = status.replace("_", " ")
    renewal = signals.get("renewal.days_to_renewal")
    if renewal is not None and isinstance(renewal.value, int) and renewal.value >= 0:
        far, _mid, near = t.renewal_windows_days
        if renewal.value <= far:
            task("value_review", str(renewal.ref), f"Schedule a value review before the renewal ({facts.name})",
                 due=today + timedelta(days=14), priority="normal")
            draft("value_review", "value_review", str(renewal.ref), renewal.evidence)
        if renewal.value <= near and status in BELOW_ENGAGED:
            alert("renewal_risk", str(renewal.ref), [facts.owner_id, *inputs.manager_ids],
                  f"{facts.name} renews in {renewal.value} days and is {label} ({score:.0f}/100).")

    if prior is not None:
        dropped_band = BAND_ORDER.index(status) < BAND_ORDER.index(prior.status)
        dropped_points = prior.recent_max_score - score >= t.health_drop_points
        if dropped_band or dropped_points:
            alert("early_warning", f"{status}:{month}", [facts.owner_id],
                  f"Early warning: {facts.name} fell from {prior.status.replace('_', ' ')} ({prior.score:.0f}) "
                  f"to {label} ({score:.0f}).")

    if status == "at_risk" and (prior is None or prior.status != "at_risk"):
        alert("at_risk", month, [facts.owner_id, *inputs.manager_ids],
              f"{facts.name} is now at risk ({score:.0f}/100).")
        task("at_risk", month, f"Discovery call with {facts.name}: what would make them stay?",
             due=add_business_days(today, 5))

    outbound = signals.get("contact.days_since_outbound")
    if outbound is not None and (outbound.value is None or outbound.value >= t.outbound_warn_days):
        last = facts.last_outbound_at.date().isoformat() if facts.last_outbound_at else "never"
        draft("quiet_account", "check_in", last, outbound.evidence)

    usage = signals.get("usage.month_over_month")
    if usage is not None and isinstance(usage.value, float) and usage.value <= -t.usage_month_drop:
        task("usage_drop", str(usage.ref), f"Usage fell {-usage.value:.0%} month over month at {facts.name}: "
             "find out why", due=today + timedelta(days=7))
        draft("usage_drop", "usage_nudge", str(usage.ref), usage.evidence)

    sponsor = signals.get("sponsor.primary")
    if sponsor is not None and sponsor.value == "left":
        actions.append(MarkRisk(account_id, "Primary sponsor left."))
        task("sponsor_left", str(sponsor.ref), f"Research and meet the new executive sponsor at {facts.name}",
             due=today + timedelta(days=7))
        draft("sponsor_left", "sponsor_intro", str(sponsor.ref), sponsor.evidence)

    for survey_id, label_text in (("survey.nps", "NPS detractor"), ("survey.csat", "Poor CSAT")):
        survey = signals.get(survey_id)
        if survey is not None and survey.grade == "poor":
            task("detractor", str(survey.ref), f"{label_text} at {facts.name} ({survey.value}): respond personally "
                 "within 48 hours", due=today + timedelta(days=2))
            draft("detractor", "detractor_follow_up", str(survey.ref), survey.evidence)

    _plan_playbooks(inputs, task, draft, alert)

    strikes = [s.id for s in signals.signals if s.id in EARLY_INDICATORS and s.grade == "poor"]
    if len(strikes) >= t.early_indicators_for_save_plan:
        task("save_plan", month, f"Open a save-plan review for {facts.name} ({len(strikes)} early risk indicators)",
             due=today + timedelta(days=3))
    return actions
