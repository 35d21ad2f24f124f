"""The manager's view: how the whole portfolio (or one CSM's book) is doing, in one call."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from agents.backtest import backtest_for
from store.crm import portfolio_snapshots
from store.crm.portfolio_schemas import PortfolioSummary
from tools.common import READ, ToolSpec, acting_email, app_of, respond, store_errors_as_tool_errors, unit_of_work


def tools() -> list[ToolSpec]:
    return [
        (portfolio_summary, READ),
    ]


async def portfolio_summary(
    ctx: Context,
    owner: Annotated[str | None, Field(description='"me", a CSM email, or omit for everyone.')] = None,
    period_start: Annotated[date | None, Field(description="Retention period; default the last 12 months.")]
    = None,
    period_end: date | None = None,
    currency: Annotated[str | None, Field(description="Default: the currency with the most ARR.")] = None,
    quarters: Annotated[int, Field(ge=1, le=8, description="Pipeline quarters from this one.")] = 4,
    health_backtest: Annotated[bool, Field(description="Managers: how well health predicted churn.")] = False,
) -> Annotated[CallToolResult, PortfolioSummary]:
    """Portfolio health: count and ARR per health status now and 30 days ago, accounts that became or left
    at_risk in 7 days, open renewals by quarter (due, forecast, at risk), and GRR, NRR and logo churn."""
    app = app_of(ctx)
    model = app.health_models.current()
    with store_errors_as_tool_errors():
        summary = await portfolio_snapshots.summary(app.units, email=acting_email(app), now=app.clock.now(),
                                                    owner=owner, currency=currency, period_start=period_start,
                                                    period_end=period_end, quarters=quarters)
    if health_backtest:
        async with unit_of_work(ctx, write=False) as work:
            result = await backtest_for(work.session, work.principal, model, today=work.now.date())
            summary = summary.model_copy(update={"health_backtest": result})
    return respond(summary)
