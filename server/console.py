"""Terminal rendering of the retention view and the renewal pipeline."""

from __future__ import annotations

import shutil
from decimal import Decimal

from rich import box
from rich.console import Console
from rich.table import Table

from store.schemas import AccountRow, RenewalOut

HEALTH_STYLE = {"strongly_thriving": "bold green", "actively_engaged": "green", "neutral": "yellow",
                "needs_attention": "dark_orange", "at_risk": "bold red"}
# Wide enough for every column without wrapping, even when the output is piped.
MIN_WIDTH = 140


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


TREND_MARK = {"improving": "↑", "declining": "↓", "stable": "→", "new": "·"}


def health(status: str | None, score: int | None, trend: str | None = None) -> str:
    if status is None:
        return "[dim]not assessed[/dim]"
    mark = f" {TREND_MARK.get(trend or '', '')}" if trend else ""
    return f"[{HEALTH_STYLE.get(status, '')}]{score:>3} {status}[/]{mark}"


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
        table.add_row(f"{row.due_date}  {row.days_to_due:>3} d", row.account_name, row.owner.split("@")[0].split(".")[0],
                      row.stage, money(row.target_amount, row.currency), money(row.forecast_amount, row.currency),
                      health(row.health_status, row.health_score))
    return table


def make_console() -> Console:
    return Console(width=max(shutil.get_terminal_size((MIN_WIDTH, 24)).columns, MIN_WIDTH))
