"""Health signals: each with an id, a value, a grade and an evidence line a CSM can check.

`compute_signals` is pure: facts in, signals out. `load_signal_sets` loads facts for many accounts
and computes their signals as of one moment.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from store.health.model import Dimension, HealthModel, SegmentModel
from store.health.signal_facts import AccountFacts, PlanOutcomeFact, Usage, load_facts, progress
from store.health.thresholds import HealthThresholds
from store.validation import plain_number

Grade = Literal["good", "fair", "poor", "unknown"]


class Signal(BaseModel):
    id: str
    dimension: Dimension
    value: float | int | str | None
    grade: Grade
    evidence: str
    # What the signal is about (a survey, a contact, a usage period), so a playbook can key on it.
    ref: str | None = None
    # What enters the digest: for day counters, the grade, so that one more quiet day alone
    # does not force a re-assessment.
    digest_value: float | int | str | None = None
    # What the signal is worth on the model's scale (0–100); None without data. Its weight is the model's.
    points: float | None = None


class SignalSet(BaseModel):
    account_id: int
    as_of: datetime
    signals: list[Signal]
    digest: str

    def get(self, signal_id: str) -> Signal | None:
        return next((signal for signal in self.signals if signal.id == signal_id), None)

    @property
    def ids(self) -> set[str]:
        return {signal.id for signal in self.signals}


async def load_signal_sets(session: AsyncSession, account_ids: Sequence[int], *, as_of: datetime,
                           model: HealthModel) -> dict[int, tuple[AccountFacts, SignalSet]]:
    """Facts and signals for the given active accounts."""
    facts = await load_facts(session, account_ids, as_of=as_of)
    return {account_id: (fact, compute_signals(fact, as_of=as_of, model=model.for_segment(fact.segment)))
            for account_id, fact in facts.items()}


def compute_signals(facts: AccountFacts, *, as_of: datetime, model: SegmentModel) -> SignalSet:
    """The account's signal set as of a moment, each signal with its points on the model's scale;
    deterministic for the same facts and model."""
    t = model.thresholds
    signals = [
        *_relationship(facts, as_of, t),
        *_usage(facts, as_of, t),
        *_experience(facts, as_of, t),
        *_commercial(facts, as_of, t),
    ]
    given = {signal.id for signal in signals}
    signals += [Signal(id=signal_id, dimension=model.signals[signal_id].dimension, value=None, grade="unknown",
                       evidence=MISSING_EVIDENCE[signal_id])
                for signal_id in model.signals if signal_id not in given]
    signals = [_scored(signal, model, t) for signal in signals]
    basis = [(s.id, s.grade, s.digest_value if s.digest_value is not None else s.value, s.ref) for s in signals]
    basis.append(("notes.latest", None, facts.latest_note_id, None))
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()
    return SignalSet(account_id=facts.account_id, as_of=as_of, signals=signals, digest=digest)


# What a signal without data says (the signals that can lack data and do not say so themselves).
MISSING_EVIDENCE = {
    "usage.trend_vs_90d": "No usage data recorded.",
    "usage.month_over_month": "Fewer than two months of usage recorded.",
    "usage.seat_utilisation": "No usage data or no seat count recorded.",
    "usage.adoption_breadth": "No usage data recorded.",
    "renewal.days_to_renewal": "No open renewal on record.",
    "renewal.forecast_vs_target": "No open renewal with a target amount on record.",
}
GRADE_POINTS = {"good": 100.0, "fair": 50.0, "poor": 0.0}


def _scored(signal: Signal, model: SegmentModel, t: HealthThresholds) -> Signal:
    """The signal, just made, given its points and dimension from the model (set in place: a copy of each of
    the portfolio's signals cost a third of an unchanged cycle)."""
    spec = model.signals[signal.id]
    points = None
    if signal.grade != "unknown" and signal.value is None:
        points = GRADE_POINTS[signal.grade]  # known, but with no figure: "never contacted" is poor
    elif signal.grade != "unknown":
        key: float | int | str | None = signal.value
        if signal.id == "renewal.days_to_renewal":
            key = signal.grade
        elif signal.id == "usage.adoption_breadth":
            key = float(signal.value or 0) / t.feature_catalogue
        points = round(spec.points_for(key if key is not None else 0), 2)
    signal.points = points
    if signal.dimension != spec.dimension:  # a team's model may move a signal to another dimension
        signal.dimension = spec.dimension
    return signal


def _name(text: str) -> str:
    """CRM text going into an evidence line: one line, bounded."""
    return " ".join(text.split())[:80]


def _days(later: datetime, earlier: datetime) -> int:
    return (later - earlier).days


def _relationship(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> list[Signal]:
    signals = [*_contact_history(facts, as_of, t), _sponsor(facts), _multithreading(facts, t), _outreach(facts, t)]
    return signals


def _contact_history(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> list[Signal]:
    if not facts.has_touchpoints:
        missing = ("No contact history on record (calls, meetings, emails): log touchpoints or import them "
                   "so the relationship can be judged.")
        return [Signal(id="contact.days_since_outbound", dimension="relationship", value=None, grade="unknown",
                       evidence=missing),
                Signal(id="contact.days_since_meeting", dimension="relationship", value=None, grade="unknown",
                       evidence=missing)]
    signals = []
    if facts.last_outbound_at is None:
        signals.append(Signal(id="contact.days_since_outbound", dimension="relationship", value=None, grade="poor",
                              evidence="No outbound contact (call, meeting, email, QBR) recorded."))
    else:
        days = _days(as_of, facts.last_outbound_at)
        grade: Grade = ("poor" if days >= t.outbound_critical_days else "fair" if days >= t.outbound_warn_days
                        else "good")
        signals.append(Signal(id="contact.days_since_outbound", dimension="relationship", value=days, grade=grade,
                              evidence=f"Last outbound contact {days} days ago ({facts.last_outbound_at.date()}).",
                              digest_value=grade))
    if facts.last_meeting_at is None:
        signals.append(Signal(id="contact.days_since_meeting", dimension="relationship", value=None, grade="poor",
                              evidence="No meeting or QBR recorded."))
    else:
        days = _days(as_of, facts.last_meeting_at)
        grade = "poor" if days > t.meeting_critical_days else "fair" if days > t.meeting_warn_days else "good"
        signals.append(Signal(id="contact.days_since_meeting", dimension="relationship", value=days, grade=grade,
                              evidence=f"Last meeting {days} days ago ({facts.last_meeting_at.date()}).",
                              digest_value=grade))
    return signals


def _sponsor(facts: AccountFacts) -> Signal:
    sponsor = facts.primary_sponsor
    if sponsor is not None and sponsor.left_company_on is not None:
        return Signal(id="sponsor.primary", dimension="relationship", value="left", grade="poor",
                      ref=f"contact:{sponsor.id}",
                      evidence=f"Primary sponsor {_name(sponsor.name)} left on {sponsor.left_company_on}.")
    if sponsor is not None:
        return Signal(id="sponsor.primary", dimension="relationship", value="present", grade="good",
                      ref=f"contact:{sponsor.id}", evidence=f"Primary sponsor {_name(sponsor.name)} is in place.")
    if facts.contact_count == 0 and not facts.has_executive_sponsor:
        return Signal(id="sponsor.primary", dimension="relationship", value=None, grade="unknown",
                      evidence="No contacts on record: add the customer's people (or import them) and mark the "
                               "primary sponsor.")
    return Signal(id="sponsor.primary", dimension="relationship",
                  value="executive_only" if facts.has_executive_sponsor else "none",
                  grade="fair", evidence="No primary sponsor recorded.")


def _multithreading(facts: AccountFacts, t: HealthThresholds) -> Signal:
    if facts.engaged_roles is None:
        return Signal(id="contact.multithreading", dimension="relationship", value=None, grade="unknown",
                      evidence="No touchpoint names the person engaged, so how many people csdesk reaches at the "
                               "customer is not known.")
    engaged = len(facts.engaged_roles)
    grade: Grade = ("poor" if engaged <= t.single_threaded_max else "fair" if engaged == t.single_threaded_max + 1
                    else "good")
    roles = ", ".join(role.replace("_", " ") for role in dict.fromkeys(facts.engaged_roles))
    who = f" ({roles})" if roles else ""
    lead = "Single-threaded: " if grade == "poor" else ""
    return Signal(id="contact.multithreading", dimension="relationship", value=engaged, grade=grade,
                  digest_value=f"{engaged}:{roles}",
                  evidence=f"{lead}{engaged} {'person' if engaged == 1 else 'people'} at the customer engaged in the "
                           f"last 90 days{who}.")


def _outreach(facts: AccountFacts, t: HealthThresholds) -> Signal:
    sent, answered = facts.emails_out_recent, facts.emails_answered_recent
    if sent == 0:
        return Signal(id="contact.outreach_response", dimension="relationship", value=None, grade="unknown",
                      evidence="No emails sent in the last 90 days to judge replies by.")
    rate = answered / sent
    grade: Grade = "poor" if rate < t.outreach_poor_below else "fair" if rate < 0.5 else "good"
    return Signal(id="contact.outreach_response", dimension="relationship", value=round(rate, 3), grade=grade,
                  digest_value=grade,
                  evidence=f"{answered} of {sent} emails sent in the last 90 days had a reply within 14 days.")


def _usage(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> list[Signal]:
    if not facts.usage:
        return [Signal(id="usage.trend_vs_90d", dimension="usage", value=None, grade="unknown",
                       evidence="No usage data recorded.")]
    usage, pace = _months_to_judge(facts.usage, as_of)
    latest = usage[-1]
    period = f"usage:{latest.period_start}"
    # A month still being counted changes with every event: only a change of grade is a change of input
    # (else each batch of events would re-assess the account).
    live = latest.running and latest.period_start == as_of.date().replace(day=1)
    signals = []
    trailing = usage[-4:-1]
    if trailing:
        average = sum(u.usage_count for u in trailing) / len(trailing)
        change = (latest.usage_count / average - 1) if average else 0.0
        grade: Grade = ("poor" if change <= -t.usage_critical_drop else "fair" if change <= -t.usage_warn_drop
                        else "good")
        signals.append(Signal(id="usage.trend_vs_90d", dimension="usage", value=round(change, 3), grade=grade,
                              ref=period, digest_value=grade if live else None,
                              evidence=f"Usage {latest.usage_count:,} in the month of {latest.period_start}{pace} "
                              f"vs {average:,.0f} average of the prior {len(trailing)} months ({change:+.0%})."))
        previous = usage[-2]
        month_change = (latest.usage_count / previous.usage_count - 1) if previous.usage_count else 0.0
        grade = "poor" if month_change <= -t.usage_month_drop else "fair" if month_change < -0.10 else "good"
        signals.append(Signal(id="usage.month_over_month", dimension="usage", value=round(month_change, 3),
                              grade=grade, ref=period, digest_value=grade if live else None,
                              evidence=f"Usage {month_change:+.0%} month over month "
                                       f"({previous.usage_count:,} → {latest.usage_count:,})."))
    if facts.seats > 0:
        utilisation = latest.active_users / facts.seats
        grade = "poor" if utilisation < t.seat_poor_below else "good" if utilisation >= t.seat_good_from else "fair"
        signals.append(Signal(id="usage.seat_utilisation", dimension="usage", value=round(utilisation, 3),
                              grade=grade, ref=period, digest_value=grade if live else None,
                              evidence=f"{latest.active_users} active users on "
                              f"{facts.seats} seats ({utilisation:.0%})."))
    norm = t.adoption_norm
    earlier = usage[-4] if len(usage) >= 4 else usage[0]
    falling = latest.features_adopted < earlier.features_adopted
    below = latest.features_adopted < norm
    grade = "poor" if falling and below else "fair" if falling or below else "good"
    trend = f", down from {earlier.features_adopted}" if falling else ""
    signals.append(Signal(id="usage.adoption_breadth", dimension="usage", value=latest.features_adopted, grade=grade,
                          ref=period, digest_value=grade if live else None,
                          evidence=f"{latest.features_adopted} of {t.feature_catalogue} features in active "
                          f"use{trend}; the {facts.segment} norm is {norm}."))
    return signals


# A month still counted from live events is judged by its pace: on day 10 of 30, a third of last month's
# usage is on track, not a two-thirds drop. Before this many days it says too little, and the month
# before it is judged instead (when there is one).
RUNNING_MONTH_MIN_DAYS = 7


def _months_to_judge(usage: list[Usage], as_of: datetime) -> tuple[list[Usage], str]:
    """The months to grade, the running one paced to a whole month, and how its figure was reached."""
    latest = usage[-1]
    if not latest.running or latest.period_start != as_of.date().replace(day=1):
        return usage, ""
    elapsed = as_of.day
    if elapsed < RUNNING_MONTH_MIN_DAYS and len(usage) > 1:
        return usage[:-1], ""
    days = calendar.monthrange(latest.period_start.year, latest.period_start.month)[1]
    paced = dataclasses.replace(latest, usage_count=round(latest.usage_count * days / elapsed))
    return [*usage[:-1], paced], f" (on pace from {latest.usage_count:,} in its first {elapsed} days)"


def _experience(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> list[Signal]:
    overdue = sum(1 for ticket in facts.open_tickets if ticket.due_at is not None and ticket.due_at < as_of)
    escalated = sum(1 for ticket in facts.open_tickets if ticket.escalated)
    signals = [
        Signal(id="support.overdue_tickets", dimension="experience", value=overdue,
               grade="poor" if overdue >= 2 else "fair" if overdue == 1 else "good",
               evidence=f"{len(facts.open_tickets)} open support tickets, {overdue} past due."),
        Signal(id="support.escalations", dimension="experience", value=escalated,
               grade="poor" if escalated else "good",
               evidence=(f"{escalated} escalated support ticket{'s' if escalated > 1 else ''} open." if escalated
                         else "No open escalations.")),
    ]
    signals += [_support_volume(facts, t), _ticket_ratings(facts, t)]
    nps = next((s for s in reversed(facts.surveys) if s.kind == "nps"), None)
    if nps is None:
        signals.append(Signal(id="survey.nps", dimension="experience", value=None, grade="unknown",
                              evidence="No NPS response in the last 12 months."))
    else:
        grade: Grade = ("poor" if nps.score <= t.nps_detractor_max else "good" if nps.score >= t.nps_promoter_min
                        else "fair")
        kind = "detractor" if grade == "poor" else "promoter" if grade == "good" else "passive"
        signals.append(Signal(id="survey.nps", dimension="experience", value=nps.score, grade=grade,
                              ref=f"survey:{nps.id}",
                              evidence=f"Latest NPS {nps.score} ({kind}) on {nps.responded_at.date()}."))
    csat = next((s for s in reversed(facts.surveys) if s.kind == "csat"), None)
    if csat is None:
        signals.append(Signal(id="survey.csat", dimension="experience", value=None, grade="unknown",
                              evidence="No CSAT response in the last 12 months."))
    else:
        grade = "poor" if csat.score < t.csat_poor_below else "fair" if csat.score < t.csat_good_from else "good"
        signals.append(Signal(id="survey.csat", dimension="experience", value=csat.score, grade=grade,
                              ref=f"survey:{csat.id}",
                              evidence=f"Latest CSAT {csat.score}/5 on {csat.responded_at.date()}."))
    return signals


def _support_volume(facts: AccountFacts, t: HealthThresholds) -> Signal:
    # Per 10 seats, so a large customer's many tickets are not held against it; an account with no seats
    # recorded counts as 10.
    per_ten = facts.tickets_recent * 10 / facts.seats if facts.seats > 0 else float(facts.tickets_recent)
    grade: Grade = ("poor" if per_ten >= t.support_volume_critical else "fair" if per_ten >= t.support_volume_warn
                    else "good")
    return Signal(id="support.volume", dimension="experience", value=round(per_ten, 2), grade=grade,
                  digest_value=f"{facts.tickets_recent}",
                  evidence=f"{facts.tickets_recent} support ticket{'s' if facts.tickets_recent != 1 else ''} opened "
                           f"in the last 90 days ({per_ten:.1f} per 10 seats).")


def _ticket_ratings(facts: AccountFacts, t: HealthThresholds) -> Signal:
    if not facts.ticket_ratings:
        return Signal(id="support.ticket_csat", dimension="experience", value=None, grade="unknown",
                      evidence="No rated support ticket closed in the last 180 days.")
    mean = sum(facts.ticket_ratings) / len(facts.ticket_ratings)
    grade: Grade = "poor" if mean < t.ticket_csat_poor_below else "fair" if mean < 4.5 else "good"
    count = len(facts.ticket_ratings)
    return Signal(id="support.ticket_csat", dimension="experience", value=round(mean, 2), grade=grade,
                  evidence=f"Support tickets rated {mean:.1f}/5 on average ({count} rated in the last 180 days).")


def _commercial(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> list[Signal]:
    signals = []
    renewal = facts.open_renewal
    far, mid, near = t.renewal_windows_days
    if renewal is not None:
        days = (renewal.due_date - as_of.date()).days
        early_stage = renewal.stage in ("upcoming", "in_discussion")
        grade: Grade = ("poor" if days <= near and early_stage
                        else "fair" if days <= mid and renewal.stage == "upcoming"
                        else "good")
        window = next((w for w in (near, mid, far) if days <= w), None)
        signals.append(Signal(id="renewal.days_to_renewal", dimension="commercial", value=days, grade=grade,
                              ref=f"renewal:{renewal.id}:{renewal.due_date}", digest_value=f"{window}:{renewal.stage}",
                              evidence=f"Renewal due {renewal.due_date} ({days} days), stage {renewal.stage}."))
        if renewal.target_amount > 0:
            ratio = float(renewal.forecast_amount / renewal.target_amount)
            grade = "poor" if ratio < 0.9 else "fair" if ratio < 1.0 else "good"
            signals.append(Signal(id="renewal.forecast_vs_target", dimension="commercial", value=round(ratio, 3),
                                  grade=grade, ref=f"renewal:{renewal.id}",
                                  evidence=f"Renewal forecast {renewal.forecast_amount:,.0f} vs target "
                                           f"{renewal.target_amount:,.0f} ({ratio:.0%})."))
    signals.append(_onboarding(facts, as_of, t))
    signals.append(_plan_progress(facts, as_of, t))
    return signals


def _plan_progress(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> Signal:
    """How the customer's success plan is going: outcomes achieved, on track, behind the time elapsed, or at
    risk (an outcome at risk or missed, a milestone well overdue); no plan past onboarding is fair."""
    plan, today = facts.plan, as_of.date()
    if plan is None:
        if facts.onboarding_status != "completed":
            return Signal(id="plan.progress", dimension="commercial", value=None, grade="unknown",
                          evidence="No success plan yet; onboarding is still under way.")
        return Signal(id="plan.progress", dimension="commercial", value="none", grade="fair",
                      evidence="No active success plan: the customer's goals are not written down.")
    overdue = [(m, (today - m.due_on).days) for m in plan.milestones if m.completed_on is None and m.due_on < today]
    late = [(m, days) for m, days in overdue if days >= t.milestone_overdue_days]
    troubled = [o for o in plan.outcomes if o.status in ("at_risk", "missed")]
    behind = [o for o in plan.outcomes if o.status == "on_track" and _behind(o, plan.starts_on, today)]
    achieved = [o for o in plan.outcomes if o.status == "achieved"]
    category = ("at_risk" if troubled or late else "behind" if behind or overdue else
                "achieved" if achieved else "on_track")
    grade: Grade = {"at_risk": "poor", "behind": "fair", "achieved": "good", "on_track": "good"}[category]
    parts = [f"Success plan {_name(plan.title)!r}: {len(achieved)} of {len(plan.outcomes)} outcomes achieved"]
    parts += [f"{_name(o.metric)} {_figure(o.baseline)} → {_figure(o.current_value)} {o.unit} (target "
              f"{_figure(o.target)})" for o in achieved[:1]]
    parts += [f"{_name(o.description)} is {o.status.replace('_', ' ')}" for o in troubled[:2]]
    parts += [f"{_name(o.metric)} behind the time elapsed" for o in behind[:2]]
    parts += [f"milestone {_name(m.title)!r} {days} days overdue" for m, days in overdue[:2]]
    return Signal(id="plan.progress", dimension="commercial", value=category, grade=grade, ref=f"plan:{plan.id}",
                  digest_value=f"{category}:{len(achieved)}:{len(late)}:{len(overdue)}",
                  evidence="; ".join(parts) + ".")


def _behind(outcome: PlanOutcomeFact, starts_on: date, today: date) -> bool:
    """Progress more than a quarter behind the share of the time to the target date that has gone."""
    span = (outcome.target_date - starts_on).days
    share = progress(outcome)
    if span <= 0 or share is None:
        return False
    elapsed = min(1.0, max(0.0, (today - starts_on).days / span))
    return share < elapsed - 0.25


def _figure(number: Decimal | None) -> str:
    return "—" if number is None else str(plain_number(number))


def _onboarding(facts: AccountFacts, as_of: datetime, t: HealthThresholds) -> Signal:
    if facts.onboarding_status == "completed":
        return Signal(id="onboarding.first_value", dimension="commercial", value="completed", grade="good",
                      evidence="Onboarding completed.")
    allowed = t.onboarding_first_value_days
    age = (as_of.date() - facts.contract_start).days if facts.contract_start else None
    late = age is not None and age > allowed
    grade: Grade = "poor" if facts.onboarding_status == "stalled" or late else "fair"
    since = f"{age} days since contract start" if age is not None else "no contract start recorded"
    category = "late" if late and facts.onboarding_status != "stalled" else facts.onboarding_status
    return Signal(id="onboarding.first_value", dimension="commercial", value=category, grade=grade,
                  digest_value=f"{facts.onboarding_status}:{late}",
                  evidence=f"Onboarding {facts.onboarding_status.replace('_', ' ')}, {since} "
                           f"(first value expected within {allowed} days).")
