"""The rules engine on hand-built signal sets."""

from __future__ import annotations

import pytest

from agents.rules import assess, band_distance, band_for
from store.health.signals import Signal, SignalSet
from tests.conftest import NOW

ALL_GOOD = {"usage.trend_vs_90d": "usage", "usage.seat_utilisation": "usage", "survey.nps": "experience",
            "support.escalations": "experience", "contact.days_since_outbound": "relationship",
            "sponsor.primary": "relationship", "renewal.days_to_renewal": "commercial",
            "onboarding.first_value": "commercial"}


def signal_set(grades: dict[str, str]) -> SignalSet:
    signals = [Signal(id=signal_id, dimension=ALL_GOOD[signal_id], value=None, grade=grades.get(signal_id, "good"),
                      evidence=f"{signal_id} is {grades.get(signal_id, 'good')}") for signal_id in ALL_GOOD]
    return SignalSet(account_id=1, as_of=NOW, signals=signals, digest="x")


@pytest.mark.parametrize(("score", "status"), [(100, "strongly_thriving"), (85, "strongly_thriving"),
                                               (84, "actively_engaged"), (70, "actively_engaged"), (69, "neutral"),
                                               (55, "neutral"), (54, "needs_attention"), (40, "needs_attention"),
                                               (39, "at_risk"), (0, "at_risk")])
def test_every_score_falls_in_exactly_one_band(score: int, status: str) -> None:
    assert band_for(score) == status


def test_all_good_signals_are_strongly_thriving_with_no_negative_drivers() -> None:
    result = assess(signal_set({}))
    assert (result.score, result.status) == (100, "strongly_thriving")
    assert all(driver.impact == "positive" for driver in result.drivers)
    assert {name: grade.grade for name, grade in result.dimensions.items()} == {
        "usage": "good", "relationship": "good", "commercial": "good", "experience": "good"}


@pytest.mark.parametrize(("grades", "score", "status"), [
    # One fair usage signal: usage 75 → 0.30 × 75 + 0.70 × 100.
    ({"usage.seat_utilisation": "fair"}, 92, "strongly_thriving"),
    # Both usage signals fair (usage 50): 0.30 × 50 + 70.
    ({"usage.trend_vs_90d": "fair", "usage.seat_utilisation": "fair"}, 85, "strongly_thriving"),
    # Relationship weak (contact poor, not critical): relationship 50 → 0.25 × 50 + 75.
    ({"contact.days_since_outbound": "poor"}, 88, "strongly_thriving"),
    # Experience fair across: 0.20 × 50 + 80.
    ({"survey.nps": "fair", "support.escalations": "fair"}, 90, "strongly_thriving"),
    # Usage and relationship fair: 0.3 × 50 + 0.25 × 50 + 45.
    ({"usage.trend_vs_90d": "fair", "usage.seat_utilisation": "fair", "contact.days_since_outbound": "fair",
      "sponsor.primary": "fair"}, 72, "actively_engaged"),
    # Everything fair.
    ({signal_id: "fair" for signal_id in ALL_GOOD}, 50, "needs_attention"),
])
def test_dimension_weights_and_bands(grades: dict[str, str], score: int, status: str) -> None:
    result = assess(signal_set(grades))
    assert (result.score, result.status) == (score, status)


def test_one_poor_critical_signal_caps_at_needs_attention_and_two_at_at_risk() -> None:
    one = assess(signal_set({"sponsor.primary": "poor"}))
    two = assess(signal_set({"sponsor.primary": "poor", "survey.nps": "poor"}))
    assert (one.score, one.status) == (54, "needs_attention")
    assert (two.score, two.status) == (39, "at_risk")
    assert [d.signal for d in two.drivers[:2]] == ["sponsor.primary", "survey.nps"]
    assert two.next_actions[0].startswith("Find and meet the new executive sponsor")


def test_unknown_signals_are_left_out_of_the_score() -> None:
    grades = {signal_id: "unknown" for signal_id in ALL_GOOD if signal_id.startswith(("usage", "survey"))}
    result = assess(signal_set(grades))
    assert result.dimensions["usage"].grade == "unknown" and result.dimensions["usage"].score is None
    assert result.score == 100


def test_the_same_signals_always_give_the_same_assessment() -> None:
    grades = {"usage.trend_vs_90d": "poor", "contact.days_since_outbound": "fair"}
    assert assess(signal_set(grades)) == assess(signal_set(grades))


def test_band_distance() -> None:
    assert band_distance("at_risk", "strongly_thriving") == 4
    assert band_distance("neutral", "needs_attention") == 1
