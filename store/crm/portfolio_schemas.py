"""Shapes of the portfolio summary: health, risk movers, renewal pipeline and retention figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from store.schemas import Out


class StatusSlice(Out):
    status: str = Field(description="A health status, or unassessed.")
    accounts: int
    arr: Decimal
    accounts_month_ago: int
    arr_month_ago: Decimal


class RiskMover(Out):
    account_id: int
    name: str
    owner: str
    arr: Decimal
    currency: str
    status: str = Field(description="Health now, or churned.")
    was: str = Field(description="Health a week ago, or unassessed.")


class QuarterPipeline(Out):
    quarter: str = Field(description="2027-Q1, or overdue for open renewals past their due date.")
    renewals: int
    due: Decimal = Field(description="Sum of target amounts.")
    forecast: Decimal
    at_risk: Decimal = Field(description="Target amounts of renewals on at_risk accounts.")
    at_risk_renewals: int


class RetentionFigures(Out):
    period_start: date
    period_end: date
    starting_accounts: int
    starting_arr: Decimal
    expansion: Decimal
    contraction: Decimal
    churned_arr: Decimal
    ending_arr: Decimal = Field(description="Ending ARR of the starting accounts (new logos excluded).")
    grr_pct: Decimal | None
    nrr_pct: Decimal | None
    logos_churned: int
    logo_churn_pct: Decimal | None
    new_logos: int
    new_logo_arr: Decimal


class PortfolioSummary(Out):
    """How the portfolio is doing: health now and a month ago, risk movers, pipeline, retention."""

    as_of: date
    owner: str = Field(description="all, or the CSM whose book this is.")
    currency: str = Field(description="Every amount is in this currency.")
    health: list[StatusSlice]
    confidence: dict[str, int] = Field(default_factory=dict, description="Active accounts by the confidence of "
                                       "their assessment (high, medium, low, unassessed): how much of the "
                                       "health picture rests on data.")
    became_at_risk: list[RiskMover]
    left_at_risk: list[RiskMover]
    pipeline: list[QuarterPipeline]
    retention: RetentionFigures
    notes: list[str]
    # An agents.backtest.Backtest; typed loosely so that the store does not depend on the agents.
    health_backtest: Any | None = Field(None, description="With health_backtest: each outcome on record against "
                                        "the score 90 days before it (ROC AUC, at_risk precision, churn per status, "
                                        "per segment), for the model in force.")
