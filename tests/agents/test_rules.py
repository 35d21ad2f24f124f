"""The rules engine on hand-built signal sets, scored by the shipped health model."""

from __future__ import annotations

import pytest

from agents.rules import assess, band_distance
from store.health.model import SIGNAL_IDS, default_model
from store.health.signals import Signal, SignalSet
from tests.conftest import NOW

MODEL = default_model().for_segment("mid_market")


def signal_set(points: dict[str, float | None], *, grades: dict[str, str] | None = None,
               default: float | None = 100.0) -> SignalSet:
    """Every signal of the model, at `default` points unless given (None: no data)."""
    grades = grades or {}
    signals = []
    for signal_id in SIGNAL_IDS:
        value = points.get(signal_id, default)
        grade = grades.get(signal_id) or ("unknown" if value is None else "good" if value >= 75 else
                                          "fair" if value >= 45 else "poor")
        spec = MODEL.signals[signal_id]
        signals.append(Signal(id=signal_id, dimension=spec.dimension, value=None, grade=grade, points=value,
                              evidence=f"{signal_id} is {grade}"))
    return SignalSet(account_id=1, as_of=NOW, signals=signals, digest="x")


@pytest.mark.parametrize(("score", "status"), [(100, "strongly_thriving"), (85, "strongly_thriving"),
                                               (84.99, "actively_engaged"), (70, "actively_engaged"),
                                               (69.9, "neutral"), (55, "neutral"), (54.9, "needs_attention"),
                                               (40, "needs_attention"), (39.99, "at_risk"), (0, "at_risk")])
def test_every_score_falls_in_exactly_one_band(score: float, status: str) -> None:
    assert MODEL.band_for(score) == status


def test_all_signals_at_full_points_is_strongly_thriving_with_high_confidence() -> None:
    result = assess(signal_set({}), MODEL)
    assert (result.score, result.status, result.coverage.confidence) == (100, "strongly_thriving", "high")
    assert result.coverage.share == 1 and result.coverage.missing == []
    assert all(driver.impact == "positive" for driver in result.drivers)
    assert {name: grade.grade for name, grade in result.dimensions.items()} == {
        "usage": "good", "relationship": "good", "commercial": "good", "experience": "good"}


def test_the_score_is_the_weighted_mean_of_the_signals_points() -> None:
    weights = {signal_id: MODEL.signals[signal_id].weight for signal_id in SIGNAL_IDS}
    total = sum(weights.values())
    # Seat utilisation (weight 2.5) at 60 points, everything else at 100, no critical signal poor.
    result = assess(signal_set({"usage.seat_utilisation": 60}), MODEL)
    assert result.score == pytest.approx(100 - 2.5 * 40 / total, abs=0.01)
    assert result.dimensions["usage"].score == pytest.approx(
        100 - 2.5 * 40 / sum(w for s, w in weights.items() if MODEL.signals[s].dimension == "usage"), abs=0.1)


def test_scores_follow_points_continuously_so_near_accounts_do_not_tie() -> None:
    scores = [assess(signal_set({"survey.csat": points}), MODEL).score for points in (40, 41, 42, 65, 100)]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)


def test_missing_data_counts_as_the_middle_and_lowers_confidence() -> None:
    usage = [signal_id for signal_id in SIGNAL_IDS if signal_id.startswith("usage.")]
    result = assess(signal_set({signal_id: None for signal_id in usage}), MODEL)
    missing_weight = sum(MODEL.signals[signal_id].weight for signal_id in usage)
    total = sum(spec.weight for spec in MODEL.signals.values())
    assert result.coverage.share == pytest.approx(1 - missing_weight / total, abs=0.001)
    assert set(result.coverage.missing) == set(usage)
    assert result.coverage.missing_essentials == ["usage"]
    assert result.dimensions["usage"].grade == "unknown" and result.dimensions["usage"].score is None
    # Missing usage is worth missing_points (50), not left out: the score is below the all-good 100.
    expected = 100 - missing_weight * (100 - MODEL.missing_points) / total
    assert result.score == pytest.approx(expected, abs=0.001)
    # With medium confidence the status is held at actively_engaged, however good the rest.
    assert result.coverage.confidence == "medium" and result.status == "actively_engaged"
    assert MODEL.band_for(result.score) == "strongly_thriving"


def test_an_account_with_no_usage_surveys_or_contact_cannot_reach_actively_engaged() -> None:
    # Everything it has is perfect; the essentials are missing.
    missing = {signal_id: None for signal_id in SIGNAL_IDS
               if signal_id.startswith(("usage.", "survey.", "contact.", "sponsor."))}
    result = assess(signal_set(missing), MODEL)
    assert result.coverage.confidence == "low"
    assert result.coverage.missing_essentials == ["usage", "surveys", "contact history"]
    assert result.status not in ("strongly_thriving", "actively_engaged")
    assert result.ceiling == "neutral"
    assert result.next_actions[0].startswith("Get the missing data into csdesk (usage, surveys, contact history)")
    assert "Missing: usage, surveys, contact history." in result.summary


def test_a_ceiling_holds_the_status_not_the_score_so_a_sort_by_score_keeps_the_evidence() -> None:
    missing = {signal_id: None for signal_id in SIGNAL_IDS
               if signal_id.startswith(("usage.", "survey.", "contact.", "sponsor."))}
    held = [assess(signal_set({**missing, "support.volume": points}), MODEL) for points in (100, 90, 80)]
    assert [r.status for r in held] == ["neutral"] * 3
    scores = [r.score for r in held]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3


def test_one_poor_critical_signal_holds_the_status_at_needs_attention_and_two_at_at_risk() -> None:
    one = assess(signal_set({"sponsor.primary": 0}), MODEL)
    two = assess(signal_set({"sponsor.primary": 0, "survey.nps": 0}), MODEL)
    assert one.status == "needs_attention" and two.status == "at_risk"
    # The score stays the weighted evidence: everything else is perfect, so it stays high.
    assert one.score > two.score > 80
    assert [d.signal for d in two.drivers[:2]] == ["survey.nps", "sponsor.primary"]
    assert any(action.startswith("Find and meet the new executive sponsor") for action in two.next_actions)
    assert one.summary.startswith("Needs attention (")


def test_a_status_already_below_its_ceiling_stays_where_it_is() -> None:
    low = assess(signal_set({"sponsor.primary": 0}, default=20), MODEL)
    assert low.status == "at_risk" and low.score < 40


def test_the_same_signals_always_give_the_same_assessment() -> None:
    points = {"usage.trend_vs_90d": 10, "contact.days_since_outbound": 50}
    assert assess(signal_set(points), MODEL) == assess(signal_set(points), MODEL)


def test_the_assessment_names_the_model_it_used() -> None:
    assert assess(signal_set({}), MODEL).model_id == default_model().id


def test_band_distance() -> None:
    assert band_distance("at_risk", "strongly_thriving") == 4
    assert band_distance("neutral", "needs_attention") == 1
