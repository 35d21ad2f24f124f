"""Fit the health model's signal weights to a team's outcomes: a regularised logistic regression on the
signals' points (scikit-learn), cross-validated, written as a model file only when asked.

The fitted weights replace the model's; scales, thresholds and ceilings stay as they are, so the
cross-validated figure is the fitted model scored by csdesk itself (caps and confidence included), on
accounts its weights were not fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from agents import rules
from store.errors import InvalidInput
from store.health.evaluation import Evaluation, Scored, evaluate
from store.health.model import SIGNAL_IDS, HealthModel, laid_over
from store.health.signals import SignalSet

FOLDS = 5
# The inverse strength of the L2 penalty: small enough that a signal seen in a few accounts cannot take
# the whole weight.
REGULARISATION = 1.0
MIN_PER_CLASS = 10


@dataclass(frozen=True)
class Sample:
    """One account's signals at a moment (scored with the current model's scales) and what happened next."""

    account_id: int
    segment: str
    signals: SignalSet
    churned: bool


class Calibration(BaseModel):
    current: Evaluation
    # The fitted model, each account scored by weights fitted without it.
    fitted_cross_validated: Evaluation
    weights: dict[str, float]
    current_weights: dict[str, float]
    model_text: str
    folds: int
    seed: int


def score_samples(samples: Sequence[Sample], model: HealthModel) -> list[Scored]:
    scored = []
    for sample in samples:
        ruled = rules.assess(sample.signals, model.for_segment(sample.segment))
        scored.append(Scored(sample.account_id, sample.segment, ruled.score, ruled.status, sample.churned))
    return scored


def calibrate(samples: Sequence[Sample], model: HealthModel, *, seed: int = 0, folds: int = FOLDS) -> Calibration:
    """Fit weights to the samples and compare the fitted model, cross-validated, with the current one.

    Raises:
        InvalidInput: too few outcomes of either kind to fit anything.
    """
    churned = sum(sample.churned for sample in samples)
    if min(churned, len(samples) - churned) < MIN_PER_CLASS:
        raise InvalidInput(f"calibration needs at least {MIN_PER_CLASS} accounts that churned and {MIN_PER_CLASS} "
                           f"that stayed; these outcomes have {churned} and {len(samples) - churned}")
    from sklearn.model_selection import StratifiedKFold  # imported here: only calibration pays for loading it

    labels = [sample.churned for sample in samples]
    splitter = StratifiedKFold(n_splits=min(folds, churned, len(samples) - churned), shuffle=True, random_state=seed)
    out_of_fold: list[Scored] = []
    for train, test in splitter.split([[0]] * len(samples), labels):
        fold_model = fitted_model(_fit([samples[i] for i in train], model, seed), model)
        out_of_fold += score_samples([samples[i] for i in test], fold_model)
    weights = _fit(list(samples), model, seed)
    return Calibration(current=evaluate(score_samples(samples, model), "current model"),
                       fitted_cross_validated=evaluate(out_of_fold, "fitted model, cross-validated"),
                       weights=weights, current_weights={k: v.weight for k, v in model.base.signals.items()},
                       model_text=model_text(weights, model), folds=splitter.get_n_splits(), seed=seed)


def _features(sample: Sample, model: HealthModel) -> list[float]:
    missing = model.base.missing_points
    points = {signal.id: signal.points for signal in sample.signals.signals}
    return [(points.get(signal_id) if points.get(signal_id) is not None else missing) / 100 for signal_id in SIGNAL_IDS]


def _fit(samples: Sequence[Sample], model: HealthModel, seed: int) -> dict[str, float]:
    """Weights from a logistic regression of churn on points: a signal whose points fall as churn rises gets
    weight in proportion; one that does not (or rises with churn) gets none. Scaled to the model's total."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=REGULARISATION, max_iter=2000, random_state=seed)
    fitted.fit([_features(sample, model) for sample in samples], [sample.churned for sample in samples])
    protective = [max(0.0, -coefficient) for coefficient in fitted.coef_[0]]
    total = sum(protective)
    budget = sum(spec.weight for spec in model.base.signals.values())
    if total == 0:
        return {signal_id: model.base.signals[signal_id].weight for signal_id in SIGNAL_IDS}
    return {signal_id: round(weight * budget / total, 3) for signal_id, weight in zip(SIGNAL_IDS, protective,
                                                                                     strict=True)}


def model_text(weights: dict[str, float], model: HealthModel) -> str:
    """A model file that sets the fitted weights over the current model."""
    lines = ["# Weights fitted to outcomes by `csdesk health calibrate`; laid over the shipped model like any",
             "# team file. Scales, thresholds and ceilings are the shipped ones.",
             f'name = "{model.name}-calibrated"', f"version = {model.version + 1}", ""]
    for signal_id in SIGNAL_IDS:
        lines += [f'[signals."{signal_id}"]', f"weight = {weights[signal_id]}", ""]
    return "\n".join(lines)


def fitted_model(weights: dict[str, float], model: HealthModel) -> HealthModel:
    """The model with the fitted weights in place of its own."""
    return laid_over(model, model_text(weights, model), "fitted.toml")
