"""Backtest and calibration on a hand-built history whose answer is known."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from agents.backtest import backtest, outcomes_from_file, outcomes_on_record
from agents.calibration import Sample, calibrate
from bench.churn_portfolio import AS_OF, labelled_portfolio
from store.database.models import Renewal, SurveyResponse
from store.errors import InvalidInput
from store.health.evaluation import Scored, evaluate, roc_auc
from store.health.model import default_model
from store.health.signals import compute_signals
from tests.conftest import NOW, Db
from tests.factories import make_account

CLOSED_ON = NOW.date() - timedelta(days=10)
REPLAYED = NOW - timedelta(days=100)  # 90 days before the outcomes


def test_roc_auc_counts_pairs_and_half_counts_ties() -> None:
    # Churners at risks 3 and 1, stayers at 2 and 0: 3 of the 4 pairs are ranked right.
    assert roc_auc([3, 1, 2, 0], [True, True, False, False]) == 0.75
    assert roc_auc([1, 1], [True, False]) == 0.5
    assert roc_auc([1, 2], [True, True]) is None


async def _history(db: Db) -> dict[str, int]:
    """Four accounts, each with an NPS answer before the replayed moment and a renewal closed since."""
    ids = {}
    for name, nps, stage in (("A", 0, "closed_lost"), ("B", 6, "closed_lost"), ("C", 3, "closed_won"),
                             ("D", 10, "closed_won")):
        account = await make_account(db, name=f"{name} Co", renewal_date=None, contract_start=date(2025, 1, 1),
                                     external_id=f"ext-{name}")
        ids[name] = account.id
        async with db.write() as session:
            session.add(SurveyResponse(account_id=account.id, kind="nps", score=nps,
                                       responded_at=REPLAYED - timedelta(days=20)))
            session.add(Renewal(account_id=account.id, owner_id=db.principals["ana"].user_id, due_date=CLOSED_ON,
                                currency="USD", target_amount=Decimal(1000), forecast_amount=Decimal(1000),
                                final_amount=Decimal(0) if stage == "closed_lost" else Decimal(1000), stage=stage,
                                booking_type="churn" if stage == "closed_lost" else "flat", closed_on=CLOSED_ON,
                                created_at=NOW, updated_at=NOW))
    async with db.write() as session:
        # Said after the replayed moment: a backtest must not see it.
        session.add(SurveyResponse(account_id=ids["D"], kind="nps", score=0, responded_at=NOW - timedelta(days=30)))
    return ids


async def test_a_backtest_scores_each_outcome_as_the_account_stood_before_it(db: Db) -> None:
    await _history(db)
    async with db.read() as session:
        outcomes = await outcomes_on_record(session)
        result = await backtest(session, default_model(), horizon_days=90, today=NOW.date())
    assert sorted((o.churned, o.what) for o in outcomes) == [
        (False, "renewal closed_won (flat)"), (False, "renewal closed_won (flat)"),
        (True, "renewal closed_lost (churn)"), (True, "renewal closed_lost (churn)")]
    overall = result.evaluations[0]
    # NPS then: A 0 < C 3 < B 6 < D 10 (D's later 0 unseen), so 3 of the 4 churner-stayer pairs rank right.
    assert (overall.scope, overall.accounts, overall.churned, overall.auc) == ("all", 4, 2, 0.75)
    assert overall.warning is not None and "too few outcomes" in overall.warning
    assert result.horizon_days == 90 and result.model == default_model().id


async def test_an_outcomes_file_is_checked_row_by_row(db: Db) -> None:
    await _history(db)
    good = "account,outcome,date\next-A,churned,2026-11-13\nB Co,renewed,2026-11-13\n"
    bad = "account,outcome,date\nnobody,churned,2026-11-13\next-A,vanished,2026-11-13\next-B,renewed,13/11/2026\n"
    async with db.read() as session:
        found = await outcomes_from_file(session, good, "outcomes.csv")
        with pytest.raises(InvalidInput) as refused:
            await outcomes_from_file(session, bad, "outcomes.csv")
        with pytest.raises(InvalidInput, match="missing columns outcome, date"):
            await outcomes_from_file(session, "account\next-A\n", "outcomes.csv")
    assert [(o.churned, o.what) for o in found] == [(True, "churned"), (False, "renewed")]
    message = str(refused.value)
    assert "outcomes.csv:2: no account 'nobody'" in message
    assert "outcomes.csv:3: outcome 'vanished' is not one of" in message
    assert "outcomes.csv:4: date '13/11/2026' is not a date like 2026-11-30" in message


def _samples(count: int, seed: int) -> list[Sample]:
    model = default_model()
    samples = []
    for account in labelled_portfolio(count, seed=seed):
        signals = compute_signals(account.facts, as_of=AS_OF, model=model.for_segment(account.facts.segment))
        samples.append(Sample(account.facts.account_id, account.facts.segment, signals, account.churned))
    return samples


def test_calibration_is_reproducible_with_a_seed_and_writes_a_valid_model() -> None:
    from store.health.model import parse_model_text

    samples = _samples(400, seed=4)
    first, again = calibrate(samples, default_model(), seed=1), calibrate(samples, default_model(), seed=1)
    assert first.weights == again.weights and first.fitted_cross_validated == again.fitted_cross_validated
    fitted = parse_model_text(first.model_text, "fitted.toml")
    assert {k: v.weight for k, v in fitted.base.signals.items()} == first.weights
    # Usage is what the generator's churn leans on most; the fit finds it.
    assert first.weights["usage.seat_utilisation"] > first.weights["support.escalations"]
    assert first.fitted_cross_validated.auc is not None and first.current.auc is not None


def test_calibration_refuses_too_few_outcomes() -> None:
    samples = _samples(30, seed=4)[:12]
    with pytest.raises(InvalidInput, match="needs at least 10 accounts that churned and 10 that stayed"):
        calibrate(samples, default_model())


def test_evaluation_reports_churn_per_status() -> None:
    scored = [Scored(1, "smb", 30, "at_risk", True), Scored(2, "smb", 35, "at_risk", False),
              Scored(3, "smb", 90, "strongly_thriving", False)]
    result = evaluate(scored)
    assert result.at_risk_precision == 0.5 and result.at_risk_accounts == 2
    assert {band.status: (band.churned, band.accounts) for band in result.bands if band.accounts} == {
        "at_risk": (1, 2), "strongly_thriving": (0, 1)}
