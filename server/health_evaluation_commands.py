"""`csdesk health backtest` and `csdesk health calibrate`: the model judged on the store's own outcomes,
and weights fitted to them."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from agents.backtest import Backtest, backtest, outcomes_from_file, outcomes_on_record, replay
from agents.calibration import Calibration, calibrate
from server.context import open_app
from server.settings import Settings
from store.health.evaluation import Evaluation


async def run_backtest(settings: Settings, *, horizon: int) -> Backtest:
    async with open_app(settings) as app, app.read_sessions() as session:
        return await backtest(session, app.health_models.current(), horizon_days=horizon,
                              today=app.clock.now().date())


async def run_calibration(settings: Settings, *, horizon: int, outcomes: Path | None, seed: int) -> Calibration:
    async with open_app(settings) as app, app.read_sessions() as session:
        model = app.health_models.current()
        found = (await outcomes_from_file(session, outcomes.read_text(encoding="utf-8"), outcomes.name)
                 if outcomes is not None else await outcomes_on_record(session))
        samples, _skipped = await replay(session, model, found, horizon_days=horizon, today=app.clock.now().date())
        return calibrate(samples, model, seed=seed)


def evaluation_table(evaluations: list[Evaluation], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("scope", "outcomes", "churned", "ROC AUC", "at_risk right", "riskiest 10 % churned",
                   "churn by status (churned/accounts)"):
        table.add_column(column, no_wrap=column != "churn by status (churned/accounts)")
    for item in evaluations:
        bands = ", ".join(f"{band.status} {band.churned}/{band.accounts}" for band in item.bands if band.accounts)
        table.add_row(item.scope, str(item.accounts), str(item.churned), _figure(item.auc),
                      f"{_figure(item.at_risk_precision)} of {item.at_risk_accounts}", _figure(item.top_precision),
                      bands)
    return table


def print_backtest(result: Backtest, console: Console) -> None:
    console.print(evaluation_table(result.evaluations, f"Backtest of {result.model}: each outcome against the "
                                                       f"score {result.horizon_days} days before it"))
    for item in result.evaluations:
        if item.warning:
            console.print(f"[yellow]warning[/] ({item.scope}): {item.warning}", highlight=False)
    for reason, count in result.skipped.items():
        console.print(f"{count} outcome(s) left out: {reason}", highlight=False)


def print_calibration(result: Calibration, console: Console) -> None:
    console.print(evaluation_table([result.current, result.fitted_cross_validated],
                                   f"The current model and fitted weights ({result.folds}-fold cross-validated, "
                                   f"seed {result.seed})"))
    for item in (result.current, result.fitted_cross_validated):
        if item.warning:
            console.print(f"[yellow]warning[/] ({item.scope}): {item.warning}", highlight=False)
    table = Table(title="Weights", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("signal", "current", "fitted"):
        table.add_column(column)
    for signal_id, weight in result.weights.items():
        table.add_row(signal_id, f"{result.current_weights[signal_id]:g}", f"{weight:g}")
    console.print(table)
    current, fitted = result.current.auc, result.fitted_cross_validated.auc
    if current is not None and fitted is not None and fitted <= current:
        console.print(f"The fitted weights rank unseen accounts no better than the current model ({fitted:.3f} "
                      f"against {current:.3f}): keep the current model.", highlight=False)


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
