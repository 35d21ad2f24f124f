"""How well a health score ranked the accounts that went on to churn: ROC AUC, how often `at_risk` was right,
and churn per status band, overall and per segment, each figure with the outcomes behind it.

A score is risk reversed: a lower score should mean a likelier churn, so AUC is computed on -score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from store.vocabulary import HEALTH_STATUSES

# Fewer outcomes of either kind than this and a figure is a warning, not a finding.
MIN_OUTCOMES = 20
# The riskiest share of the list whose churn rate is reported beside at_risk's.
TOP_SHARE = 0.10


@dataclass(frozen=True)
class Scored:
    """One account's score at a moment and what happened next."""

    account_id: int
    segment: str
    score: float
    status: str
    churned: bool


class BandRow(BaseModel):
    status: str
    accounts: int
    churned: int
    churn_rate: float | None


class Evaluation(BaseModel):
    scope: str
    accounts: int
    churned: int
    auc: float | None
    # Of the accounts rated at_risk, the share that churned.
    at_risk_precision: float | None
    at_risk_accounts: int
    # Of the riskiest TOP_SHARE of the list, the share that churned.
    top_precision: float | None
    bands: list[BandRow]
    warning: str | None = None


def roc_auc(risks: Sequence[float], labels: Sequence[bool]) -> float | None:
    """The chance that a random churner ranks riskier than a random stayer (ties count half); None without both."""
    if not any(labels) or all(labels):
        return None
    from sklearn.metrics import roc_auc_score  # imported here: only an evaluation pays for loading it

    return float(roc_auc_score(list(labels), list(risks)))


def evaluate(scored: Sequence[Scored], scope: str = "all") -> Evaluation:
    labels = [item.churned for item in scored]
    churned = sum(labels)
    auc = roc_auc([-item.score for item in scored], labels)
    at_risk = [item for item in scored if item.status == "at_risk"]
    riskiest = sorted(scored, key=lambda item: item.score)[:max(1, round(len(scored) * TOP_SHARE))] if scored else []
    by_status: dict[str, list[Scored]] = defaultdict(list)
    for item in scored:
        by_status[item.status].append(item)
    bands = [BandRow(status=status, accounts=len(by_status[status]), churned=sum(i.churned for i in by_status[status]),
                     churn_rate=_rate(by_status[status])) for status in HEALTH_STATUSES]
    stayed = len(scored) - churned
    warning = None
    if min(churned, stayed) < MIN_OUTCOMES:
        warning = (f"only {churned} churned and {stayed} stayed: too few outcomes (fewer than {MIN_OUTCOMES} of "
                   "either) for these figures to mean much")
    return Evaluation(scope=scope, accounts=len(scored), churned=churned, auc=_round(auc),
                      at_risk_precision=_rate(at_risk), at_risk_accounts=len(at_risk),
                      top_precision=_rate(riskiest), bands=bands, warning=warning)


def evaluate_by_segment(scored: Sequence[Scored]) -> list[Evaluation]:
    """The whole list first, then each segment present."""
    segments = sorted({item.segment for item in scored})
    return [evaluate(scored), *(evaluate([i for i in scored if i.segment == segment], segment)
                                for segment in segments)]


def _rate(items: Sequence[Scored]) -> float | None:
    return round(sum(item.churned for item in items) / len(items), 3) if items else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
