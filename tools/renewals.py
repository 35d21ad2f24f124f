"""Renewal tools: the pipeline and stage/forecast updates."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store.crm import renewals
from store.schemas import RenewalOut, RenewalPage
from store.vocabulary import HealthStatus, RenewalStage
from tools.accounts import Cursor, Limit, Version
from tools.common import (
    READ,
    TRANSITION,
    ToolSpec,
    acting_email,
    app_of,
    read_unit,
    respond,
    store_errors_as_tool_errors,
)


def tools() -> list[ToolSpec]:
    return [
        (list_renewals, READ),
        (update_renewal, TRANSITION),
    ]


async def list_renewals(
    ctx: Context,
    owner: Annotated[str | None, Field(description='"me", a user email, or omit for everyone.')] = None,
    within_days: Annotated[int | None, Field(ge=0, le=3660, description="Due by today+N; null = any date.")]
    = 90,
    include_overdue: Annotated[bool, Field(description="Also open renewals already past due.")] = True,
    stage: Annotated[list[RenewalStage] | None, Field(description="Default: all open stages.")] = None,
    health_status: list[HealthStatus] | None = None,
    sort: Literal["due_date", "amount_desc", "health_score"] = "due_date",
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, RenewalPage]:
    """Renewals coming due, with target, forecast, ARR and the account's health on each row."""
    page = await read_unit(ctx, lambda work: renewals.renewals_due(
        work.db, principal=work.principal, today=work.today, owner=owner, within_days=within_days,
        include_overdue=include_overdue, stages=tuple(stage or ()), health_statuses=tuple(health_status or ()),
        sort=sort, limit=limit, cursor=cursor,
    ))
    return respond(page)


async def update_renewal(
    ctx: Context,
    renewal_id: Annotated[int, Field(description="From list_renewals or get_account's open_renewal.")],
    expected_version: Version,
    stage: RenewalStage | None = None,
    forecast_amount: Decimal | None = None,
    final_amount: Annotated[Decimal | None, Field(description="Booked amount; required with closed_won.")] = None,
    notes: str | None = None,
) -> Annotated[CallToolResult, RenewalOut]:
    """Move a renewal's stage or forecast. closed_won (with final_amount) sets the account's ARR and opens
    next year's renewal; closed_lost marks the account churned. Closed renewals cannot change."""
    app = app_of(ctx)
    with store_errors_as_tool_errors():
        renewal = await renewals.change_renewal(
            app.units, email=acting_email(app), now=app.clock.now(), renewal_id=renewal_id,
            expected_version=expected_version, stage=stage, forecast_amount=forecast_amount,
            final_amount=final_amount, notes=notes)
    return respond(renewal)
