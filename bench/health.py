"""The health model judged by how well it ranks churners: on a labelled portfolio made by a documented churn
process (bench/churn_portfolio.py) and on the demo portfolio.

Prints, for the labelled portfolio: ROC AUC of the generator's own churn formula (the ceiling), of the
shipped model, of the model with weights fitted to the outcomes (cross-validated), and of each signal
alone; churn per status band; and scoring throughput. For the demo: how many accounts share a score.

`.venv/bin/python -m bench.health [--accounts 2000] [--seed 11]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from agents import rules
from agents.calibration import Sample, calibrate
from bench.churn_portfolio import AS_OF, labelled_portfolio
from store.health.evaluation import Scored, evaluate, roc_auc
from store.health.model import SIGNAL_IDS, default_model
from store.health.signals import compute_signals

# Goals (the issue's): within 0.05 of the ceiling by default, within 0.02 calibrated, fewer than 5 % of the
# demo's accounts tied, at least 1,000 accounts scored a second.
DEFAULT_GAP, CALIBRATED_GAP, TIED_SHARE, SCORED_PER_SECOND = 0.05, 0.02, 0.05, 1000


def labelled_figures(count: int, seed: int) -> list[str]:
    model = default_model()
    portfolio = labelled_portfolio(count, seed=seed)
    started = time.perf_counter()
    samples, scored = [], []
    for account in portfolio:
        segment_model = model.for_segment(account.facts.segment)
        signals = compute_signals(account.facts, as_of=AS_OF, model=segment_model)
        ruled = rules.assess(signals, segment_model)
        samples.append(Sample(account.facts.account_id, account.facts.segment, signals, account.churned))
        scored.append(Scored(account.facts.account_id, account.facts.segment, ruled.score, ruled.status,
                             account.churned))
    per_second = len(portfolio) / (time.perf_counter() - started)
    labels = [account.churned for account in portfolio]
    ceiling = roc_auc([account.ceiling_risk for account in portfolio], labels) or 0.0
    shipped = evaluate(scored)
    fitted = calibrate(samples, model, seed=seed)
    cross_validated = fitted.fitted_cross_validated.auc or 0.0
    churned = sum(labels)
    lines = [f"Labelled portfolio: {count:,} accounts, {churned:,} churned ({churned / count:.0%}), seed {seed}",
             f"  ceiling (the generator's churn formula)  AUC {ceiling:.3f}",
             f"  shipped model                            AUC {shipped.auc:.3f}  gap {ceiling - shipped.auc:.3f} "
             f"(goal ≤ {DEFAULT_GAP}: {'met' if ceiling - shipped.auc <= DEFAULT_GAP else 'MISSED'})",
             f"  fitted weights, {fitted.folds}-fold cross-validated   AUC {cross_validated:.3f}  gap "
             f"{ceiling - cross_validated:.3f} (goal ≤ {CALIBRATED_GAP}: "
             f"{'met' if ceiling - cross_validated <= CALIBRATED_GAP else 'MISSED'})",
             f"  at_risk precision {shipped.at_risk_precision} of {shipped.at_risk_accounts}; riskiest 10 %: "
             f"{shipped.top_precision}",
             "  churn by status: " + ", ".join(f"{band.status} {band.churned}/{band.accounts}"
                                              for band in shipped.bands),
             f"  scoring: {per_second:,.0f} accounts/s in process, signals and rules (goal ≥ {SCORED_PER_SECOND:,}: "
             f"{'met' if per_second >= SCORED_PER_SECOND else 'MISSED'})",
             "  each signal alone (AUC of its points; missing counts as the model's missing points):"]
    for signal_id in SIGNAL_IDS:
        points = [next((s.points for s in sample.signals.signals if s.id == signal_id), None) for sample in samples]
        risks = [-(p if p is not None else model.base.missing_points) for p in points]
        auc = roc_auc(risks, labels)
        lines.append(f"    {signal_id:30} {auc:.3f}" if auc is not None else f"    {signal_id:30} —")
    lines.append("  fitted weights (shipped → fitted): " + ", ".join(
        f"{signal_id} {fitted.current_weights[signal_id]:g}→{fitted.weights[signal_id]:g}" for signal_id in SIGNAL_IDS))
    return lines


async def demo_figures() -> list[str]:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from agents.cycle import run_cycle
    from server.context import open_app
    from server.settings import Settings
    from store.clock import FixedClock
    from store.database.models import Account
    from store.demo.portfolio import seed_demo_portfolio

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(db_path=Path(folder) / "demo.db")
        clock = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
        async with open_app(settings, clock=clock) as app:
            async with app.write_sessions() as session, session.begin():
                await seed_demo_portfolio(session, today=clock.now().date())
            await run_cycle(app.agent_deps())
            async with app.read_sessions() as session:
                scores = list(await session.scalars(select(Account.health_score).where(Account.status == "active")))
    counts = Counter(scores)
    tied = sum(n for n in counts.values() if n > 1)
    return [f"Demo portfolio: {len(scores)} active accounts, {len(counts)} distinct scores, {tied} share a score "
            f"with another ({tied / len(scores):.1%}; goal < {TIED_SHARE:.0%}: "
            f"{'met' if tied / len(scores) < TIED_SHARE else 'MISSED'})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    for line in labelled_figures(args.accounts, args.seed):
        print(line, flush=True)
    for line in asyncio.run(demo_figures()):
        print(line, flush=True)


if __name__ == "__main__":
    main()
