"""Terminal rendering of the retention view and the renewal pipeline."""

from __future__ import annotations

import shutil
from decimal import Decimal

from rich import box
from rich.console import Console
from rich.table import Table

from store.crm.portfolio_schemas import PortfolioSummary
from store.schemas import AccountRow, RenewalOut

HEALTH_STYLE = {"strongly_thriving": "bold green", "actively_engaged": "green", "neutral": "yellow",
                "needs_attention": "dark_orange", "at_risk": "bold red"}
# Wide enough for every column without wrapping, even when the output is piped.
MIN_WIDTH = 140


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


TREND_MARK = {"improving": "↑", "declining": "↓", "stable": "→", "new": "·"}


def health(status: str | None, score: float | None, trend: str | None = None) -> str:
    if status is None:
        return "[dim]not assessed[/dim]"
    mark = f" {TREND_MARK.get(trend or '', '')}" if trend else ""
    return f"[{HEALTH_STYLE.get(status, '')}]{score or 0:>3.0f} {status}[/]{mark}"


def _table(title: str, columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return table


def retention_table(rows: list[AccountRow], *, title: str) -> Table:
    table = _table(title, (("Account", "left"), ("Owner", "left"), ("Segment", "left"), ("ARR", "right"),
                           ("Health", "left"), ("Renewal", "left")))
    for row in rows:
        renewal = f"{row.renewal_date}  {row.days_to_renewal:>4} d" if row.renewal_date else "-"
        table.add_row(f"{row.name} [dim]#{row.id}[/dim]", row.owner.split("@")[0].split(".")[0], row.segment,
                      money(row.arr, row.currency), health(row.health_status, row.health_score, row.health_trend),
                      renewal)
    return table


def attention_table(rows: list[AccountRow], *, title: str, reasons: dict[int, str]) -> Table:
    table = _table(title, (("Health", "left"), ("Account", "left"), ("ARR", "right"), ("Renewal", "left"),
                           ("Why", "left")))
    for row in rows:
        renewal = f"{row.days_to_renewal} d" if row.days_to_renewal is not None else "-"
        table.add_row(health(row.health_status, row.health_score), row.name, money(row.arr, row.currency), renewal,
                      reasons.get(row.id, "")[:80])
    return table


def renewals_table(rows: list[RenewalOut], *, title: str) -> Table:
    table = _table(title, (("Due", "left"), ("Account", "left"), ("Owner", "left"), ("Stage", "left"),
                           ("Target", "right"), ("Forecast", "right"), ("Health", "left")))
    for row in rows:
        owner = row.owner.split("@")[0].split(".")[0]
        table.add_row(f"{row.due_date}  {row.days_to_due:>3} d", row.account_name, owner,
                      row.stage, money(row.target_amount, row.currency), money(row.forecast_amount, row.currency),
                      health(row.health_status, row.health_score))
    return table


def portfolio_tables(summary: PortfolioSummary) -> list[Table]:
    """The manager's view: health now and a month ago, the pipeline by quarter, and retention."""
    currency = summary.currency
    health_table = _table(f"Portfolio health on {summary.as_of} ({summary.owner})",
                          (("Status", "left"), ("Accounts", "right"), ("ARR", "right"),
                           ("A month ago", "right"), ("ARR then", "right")))
    for row in summary.health:
        style = HEALTH_STYLE.get(row.status, "dim")
        health_table.add_row(f"[{style}]{row.status}[/]", str(row.accounts), money(row.arr, currency),
                             str(row.accounts_month_ago), money(row.arr_month_ago, currency))
    pipeline = _table("Open renewals by quarter", (("Quarter", "left"), ("Renewals", "right"), ("Due", "right"),
                                                   ("Forecast", "right"), ("At risk", "right")))
    for quarter in summary.pipeline:
        pipeline.add_row(quarter.quarter, str(quarter.renewals), money(quarter.due, currency),
                         money(quarter.forecast, currency), money(quarter.at_risk, currency))
    figures = summary.retention
    retention = _table(f"Retention {figures.period_start} to {figures.period_end}", (("Figure", "left"),
                                                                                     ("Value", "right")))
    for label, value in (("Starting ARR", money(figures.starting_arr, currency)),
                         ("+ expansion", money(figures.expansion, currency)),
                         ("- contraction", money(figures.contraction, currency)),
                         ("- churned", money(figures.churned_arr, currency)),
                         ("GRR", _percent(figures.grr_pct)), ("NRR", _percent(figures.nrr_pct)),
                         ("Logo churn", f"{figures.logos_churned} of {figures.starting_accounts} "
                                        f"({_percent(figures.logo_churn_pct)})"),
                         ("New logos", f"{figures.new_logos}, {money(figures.new_logo_arr, currency)}")):
        retention.add_row(label, value)
    movers = _table("At risk this week", (("", "left"), ("Account", "left"), ("ARR", "right"), ("Was", "left"),
                                          ("Now", "left")))
    for mark, rows in (("became", summary.became_at_risk), ("left", summary.left_at_risk)):
        for row in rows:
            movers.add_row(mark, row.name, money(row.arr, row.currency), row.was, row.status)
    return [health_table, movers, pipeline, retention]


def _percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value} %"


def make_console() -> Console:
    return Console(width=max(shutil.get_terminal_size((MIN_WIDTH, 24)).columns, MIN_WIDTH))
