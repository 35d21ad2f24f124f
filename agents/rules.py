"""The rules engine: dimension grades, a 0–100 score, a status band and a confidence, computed from
signals and the health model (store/health/default_model.toml) alone.

The math (also in the README):
- every signal carries its points (0–100, from the model's scale); its weight is the model's;
- the score is the weighted mean of all signals' points, a signal without data counting as the model's
  `missing_points`: missing data pulls a score to the middle, never up;
- coverage is the share of the weight that had data; confidence is high, medium or low by coverage, and
  low whenever usage, surveys and contact history are all missing;
- a dimension's score is the weighted mean of the points of its signals with data;
- the status is the band the score falls in, held down where the model says: one poor critical signal
  at most needs_attention, two at most at_risk, and a confidence short of high at most its ceiling
  (neutral for low). The score itself is never held: it stays the sum of the evidence, so a sort by
  score ranks every account by all of it (holding the score instead cost 0.05 of ROC AUC on the
  labelled portfolio of bench/health.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from store.health.model import DIMENSIONS, SegmentModel
from store.health.signals import Signal, SignalSet
from store.vocabulary import HEALTH_STATUSES

BAND_ORDER: tuple[str, ...] = tuple(reversed(HEALTH_STATUSES))
MAX_DRIVERS = 5
Confidence = Literal["high", "medium", "low"]
# Groups of data without which no assessment is confident: (name, the signals that carry it).
ESSENTIAL_DATA = (("usage", ("usage.trend_vs_90d", "usage.seat_utilisation", "usage.adoption_breadth")),
                  ("surveys", ("survey.nps", "survey.csat")),
                  ("contact history", ("contact.days_since_outbound", "contact.days_since_meeting")))
GET_THE_DATA = ("Get the missing data into csdesk ({missing}): import it or connect the feed, then re-assess; "
                "until then this assessment is a guess.")


class Driver(BaseModel):
    signal: str
    # Always the signal's own evidence line; a model's wording of it is kept beside it, never instead.
    evidence: str
    impact: Literal["negative", "positive"]
    wording: str | None = None


class DimensionGrade(BaseModel):
    grade: Literal["good", "fair", "poor", "unknown"]
    score: float | None
    signals: list[str]
    # Share of the dimension's weight that had data.
    coverage: float = 0.0


class Coverage(BaseModel):
    """What the assessment knew: the share of the model's weight with data, and what was missing."""

    share: float
    confidence: Confidence
    missing: list[str]
    # The essential kinds of data (ESSENTIAL_DATA) the account has none of.
    missing_essentials: list[str]


class RulesAssessment(BaseModel):
    status: str
    score: float
    dimensions: dict[str, DimensionGrade]
    drivers: list[Driver]
    next_actions: list[str]
    summary: str
    coverage: Coverage
    # The model the score was made with (its name, version and digest).
    model_id: str
    # The healthiest status the confidence allows (None at high confidence).
    ceiling: str | None = None


def band_distance(first: str, second: str) -> int:
    """How many bands apart two statuses are."""
    return abs(BAND_ORDER.index(first) - BAND_ORDER.index(second))


def assess(signal_set: SignalSet, model: SegmentModel) -> RulesAssessment:
    """The deterministic assessment of a signal set under a model."""
    # Weights come from the model, not the signals: one signal set can be scored under several models
    # (a backtest of the fitted model beside the current one).
    signals = [s for s in signal_set.signals if s.id in model.signals]
    weight = {signal_id: spec.weight for signal_id, spec in model.signals.items()}
    dimension_of = {signal_id: spec.dimension for signal_id, spec in model.signals.items()}
    dimensions = {name: _dimension([s for s in signals if dimension_of[s.id] == name], model, weight)
                  for name in DIMENSIONS}
    total_weight = sum(weight[s.id] for s in signals)
    known_weight = sum(weight[s.id] for s in signals if s.points is not None)
    score = (sum(weight[s.id] * (s.points if s.points is not None else model.missing_points) for s in signals)
             / total_weight) if total_weight else model.missing_points
    coverage = _coverage(signals, known_weight / total_weight if total_weight else 0.0, model, weight)
    critical = model.critical()
    poor_critical = sum(1 for s in signals if s.id in critical and s.grade == "poor")
    # Shown rounded to a whole point, but kept fine enough that a sort by score meets a tie only where
    # the inputs are alike.
    score = round(score, 4)
    status = model.band_for(score)
    if poor_critical:
        status = _held(status, model.caps.two_critical if poor_critical >= 2 else model.caps.one_critical)
    ceiling = {"medium": model.confidence.medium_ceiling, "low": model.confidence.low_ceiling}.get(coverage.confidence)
    if ceiling is not None:
        status = _held(status, ceiling)
    drivers = _drivers(signals, critical, weight)
    actions = _next_actions(drivers, coverage, model)
    return RulesAssessment(status=status, score=score, dimensions=dimensions, drivers=drivers, next_actions=actions,
                           summary=_summary(status, score, drivers, coverage), coverage=coverage,
                           model_id=model.model_id, ceiling=ceiling)


def _held(status: str, ceiling: str) -> str:
    """The status, or the ceiling where the status is healthier."""
    return ceiling if HEALTH_STATUSES.index(status) < HEALTH_STATUSES.index(ceiling) else status


def _coverage(signals: list[Signal], share: float, model: SegmentModel, weight: dict[str, float]) -> Coverage:
    known = {s.id for s in signals if s.points is not None}
    missing_essentials = [name for name, ids in ESSENTIAL_DATA if not known.intersection(ids)]
    confidence: Confidence = ("high" if share >= model.confidence.high else
                              "medium" if share >= model.confidence.medium else "low")
    if len(missing_essentials) == len(ESSENTIAL_DATA):
        confidence = "low"
    return Coverage(share=round(share, 3), confidence=confidence,
                    missing=[s.id for s in signals if s.points is None and weight[s.id] > 0],
                    missing_essentials=missing_essentials)


def _next_actions(drivers: list[Driver], coverage: Coverage, model: SegmentModel) -> list[str]:
    weak = [driver.signal for driver in drivers if driver.impact == "negative"]
    actions = [model.signals[signal_id].action for signal_id in weak][:3]
    if coverage.confidence == "low":
        missing = coverage.missing_essentials or [signal_id for signal_id in coverage.missing[:3]]
        actions.insert(0, GET_THE_DATA.format(missing=", ".join(missing)))
    if not actions:
        actions = ["Keep the cadence; look for an expansion or advocacy opportunity."]
    return actions[:3]


def _dimension(signals: list[Signal], model: SegmentModel, weights: dict[str, float]) -> DimensionGrade:
    graded = [(weights[s.id], s.points) for s in signals if s.points is not None and weights[s.id] > 0]
    weight = sum(weights[s.id] for s in signals)
    known = sum(w for w, _ in graded)
    if not graded:
        return DimensionGrade(grade="unknown", score=None, signals=[s.id for s in signals])
    score = round(sum(w * p for w, p in graded) / known, 1)
    grade = ("good" if score >= model.dimension_grades.good else "fair" if score >= model.dimension_grades.fair
             else "poor")
    return DimensionGrade(grade=grade, score=score, signals=[s.id for s in signals],
                          coverage=round(known / weight, 3) if weight else 0.0)


def _drivers(signals: list[Signal], critical: frozenset[str], weight: dict[str, float]) -> list[Driver]:
    """The weak signals that cost the most points first (poor before fair, critical first among equals)."""
    order = {"poor": 0, "fair": 1}
    weak = sorted((s for s in signals if s.grade in order and weight[s.id] > 0),
                  key=lambda s: (order[s.grade], s.id not in critical, -weight[s.id] * (100 - (s.points or 0)), s.id))
    drivers = [Driver(signal=s.id, evidence=s.evidence, impact="negative") for s in weak[:MAX_DRIVERS]]
    if len(drivers) < 2:
        strong = sorted((s for s in signals if s.grade == "good" and weight[s.id] > 0), key=lambda s: -weight[s.id])
        drivers += [Driver(signal=s.id, evidence=s.evidence, impact="positive") for s in strong[:3 - len(drivers)]]
    return drivers


def _summary(status: str, score: float, drivers: list[Driver], coverage: Coverage) -> str:
    label = f"{status.replace('_', ' ').capitalize()} ({score:.0f}/100, {coverage.confidence} confidence)"
    negatives = [d for d in drivers if d.impact == "negative"]
    gaps = (f" Missing: {', '.join(coverage.missing_essentials)}." if coverage.missing_essentials else "")
    if not negatives:
        return f"{label}: no weak signals; {drivers[0].evidence if drivers else ''}".strip() + gaps
    return f"{label}, mainly because: " + " ".join(d.evidence for d in negatives[:3]) + gaps
