"""The rules engine: dimension grades, a 0–100 score and a status band, computed from signals alone.

The math (also in the README):
- each graded signal is worth points: good 100, fair 50, poor 0 (unknown signals are left out);
- a dimension's score is the mean of its signals' points; its grade is good from 75, fair from 45;
- the score is the weighted mean of the dimensions that have signals: usage 30 %, relationship 25 %,
  commercial 25 %, experience 20 % (weights of empty dimensions are shared out pro rata);
- critical signals cap the score, because one of them can lose the account whatever else is fine:
  one poor critical signal caps it at 54 (needs attention), two or more at 39 (at risk);
- the status is the band the score falls in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from store.health.signals import Signal, SignalSet

POINTS = {"good": 100, "fair": 50, "poor": 0}
CRITICAL_SIGNALS = frozenset({"sponsor.primary", "support.escalations", "survey.nps", "renewal.forecast_vs_target",
                              "onboarding.first_value", "usage.trend_vs_90d"})
CAP_ONE_CRITICAL = 54
CAP_TWO_CRITICAL = 39
WEIGHTS = {"usage": 0.30, "relationship": 0.25, "commercial": 0.25, "experience": 0.20}
BANDS: tuple[tuple[int, str], ...] = ((85, "strongly_thriving"), (70, "actively_engaged"), (55, "neutral"),
                                      (40, "needs_attention"), (0, "at_risk"))
BAND_ORDER = tuple(status for _floor, status in reversed(BANDS))
MAX_DRIVERS = 5

# What a CSM should do about a weak signal, most urgent first.
NEXT_ACTIONS: dict[str, str] = {
    "sponsor.primary": "Find and meet the new executive sponsor; map who now owns the budget.",
    "support.escalations": "Get the escalated ticket resolved and tell the sponsor what was done.",
    "survey.nps": "Call the detractor within 48 hours to hear the problem first-hand.",
    "survey.csat": "Follow up personally on the poor support experience.",
    "renewal.days_to_renewal": "Move the renewal forward: agree the proposal and the decision date.",
    "renewal.forecast_vs_target": "Build the value case for the full renewal amount.",
    "usage.trend_vs_90d": "Review usage with the champion and agree an adoption plan.",
    "usage.month_over_month": "Find out what changed this month: team, tooling or priorities.",
    "onboarding.first_value": "Unblock onboarding and agree a date for first value.",
    "contact.days_since_outbound": "Check in with the champion this week.",
    "contact.days_since_meeting": "Book a meeting or QBR with the sponsor.",
    "support.overdue_tickets": "Chase the overdue support tickets with support.",
    "usage.seat_utilisation": "Help the customer roll out the unused seats.",
    "usage.adoption_breadth": "Introduce the features their peers rely on.",
}


class Driver(BaseModel):
    signal: str
    # Always the signal's own evidence line; a model's wording of it is kept beside it, never instead.
    evidence: str
    impact: Literal["negative", "positive"]
    wording: str | None = None


class DimensionGrade(BaseModel):
    grade: Literal["good", "fair", "poor", "unknown"]
    score: int | None
    signals: list[str]


class RulesAssessment(BaseModel):
    status: str
    score: int
    dimensions: dict[str, DimensionGrade]
    drivers: list[Driver]
    next_actions: list[str]
    summary: str


def band_for(score: int) -> str:
    """The status band a 0–100 score falls in."""
    return next(status for floor, status in BANDS if score >= floor)


def band_distance(first: str, second: str) -> int:
    """How many bands apart two statuses are."""
    return abs(BAND_ORDER.index(first) - BAND_ORDER.index(second))


def assess(signal_set: SignalSet) -> RulesAssessment:
    """The deterministic assessment of a signal set."""
    dimensions = {name: _dimension([s for s in signal_set.signals if s.dimension == name]) for name in WEIGHTS}
    weighted = [(WEIGHTS[name], grade.score) for name, grade in dimensions.items() if grade.score is not None]
    total_weight = sum(weight for weight, _ in weighted)
    score = round(sum(weight * value for weight, value in weighted) / total_weight) if total_weight else 50
    critical = sum(1 for s in signal_set.signals if s.id in CRITICAL_SIGNALS and s.grade == "poor")
    if critical:
        score = min(score, CAP_TWO_CRITICAL if critical >= 2 else CAP_ONE_CRITICAL)
    status = band_for(score)
    drivers = _drivers(signal_set.signals)
    weak = [driver.signal for driver in drivers if driver.impact == "negative"]
    actions = [NEXT_ACTIONS[signal_id] for signal_id in NEXT_ACTIONS if signal_id in weak][:3]
    if not actions:
        actions = ["Keep the cadence; look for an expansion or advocacy opportunity."]
    return RulesAssessment(status=status, score=score, dimensions=dimensions, drivers=drivers, next_actions=actions,
                           summary=_summary(status, score, drivers))


def _dimension(signals: list[Signal]) -> DimensionGrade:
    graded = [POINTS[s.grade] for s in signals if s.grade in POINTS]
    if not graded:
        return DimensionGrade(grade="unknown", score=None, signals=[s.id for s in signals])
    score = round(sum(graded) / len(graded))
    grade = "good" if score >= 75 else "fair" if score >= 45 else "poor"
    return DimensionGrade(grade=grade, score=score, signals=[s.id for s in signals])


def _drivers(signals: list[Signal]) -> list[Driver]:
    order = {"poor": 0, "fair": 1}
    urgency = list(NEXT_ACTIONS)
    weak = sorted((s for s in signals if s.grade in order),
                  key=lambda s: (order[s.grade], s.id not in CRITICAL_SIGNALS,
                                 urgency.index(s.id) if s.id in urgency else len(urgency)))
    drivers = [Driver(signal=s.id, evidence=s.evidence, impact="negative") for s in weak[:MAX_DRIVERS]]
    if len(drivers) < 2:
        strong = [s for s in signals if s.grade == "good"]
        drivers += [Driver(signal=s.id, evidence=s.evidence, impact="positive") for s in strong[:3 - len(drivers)]]
    return drivers


def _summary(status: str, score: int, drivers: list[Driver]) -> str:
    label = status.replace("_", " ")
    negatives = [d for d in drivers if d.impact == "negative"]
    if not negatives:
        return f"{label.capitalize()} ({score}/100): no weak signals; {drivers[0].evidence if drivers else ''}".strip()
    return f"{label.capitalize()} ({score}/100), mainly because: " + " ".join(d.evidence for d in negatives[:3])
