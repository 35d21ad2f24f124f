"""Success plans from the assistant: one tool for every change; the plan itself is read in get_account."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store.crm import success_plans
from store.schemas import SuccessPlanOut
from store.vocabulary import OutcomeStatus, PlanAction
from tools.accounts import AccountId
from tools.common import OVERWRITE, ToolSpec, respond, unit_of_work


def tools() -> list[ToolSpec]:
    return [(update_success_plan, OVERWRITE)]


async def update_success_plan(
    ctx: Context,
    account_id: AccountId,
    action: PlanAction,
    expected_version: Annotated[int | None, Field(description="The plan's version; needed but to start.")] = None,
    outcome_id: int | None = None,
    milestone_id: int | None = None,
    text: Annotated[str | None, Field(description="Plan or milestone title, or the outcome in the customer's "
                                                  "words.")] = None,
    metric: str | None = None,
    unit: str | None = None,
    baseline: Decimal | None = None,
    target: Decimal | None = None,
    value: Decimal | None = None,
    due: Annotated[date | None, Field(description="Outcome target date or milestone due date.")] = None,
    on: Annotated[date | None, Field(description="When measured, completed or started; default today.")] = None,
    owner: Annotated[str | None, Field(description='"me", a CSM\'s or a customer contact\'s email.')] = None,
    status: OutcomeStatus | None = None,
) -> Annotated[CallToolResult, SuccessPlanOut]:
    """Keep the customer's success plan: start (text = title), set_outcome (new, or outcome_id to edit: text,
    metric, unit, baseline, target, due, owner, status), record_value (outcome_id, value; reaching the target
    marks it achieved), add_milestone (text, due), complete_milestone (milestone_id), close."""
    change = success_plans.PlanChange(
        action=action, expected_version=expected_version, title=text if action in ("start", "add_milestone") else None,
        description=text if action == "set_outcome" else None, starts_on=on if action == "start" else None,
        outcome_id=outcome_id, milestone_id=milestone_id, metric=metric, unit=unit, baseline=baseline, target=target,
        target_date=due, owner=owner, status=status, value=value, on=on if action != "start" else None)
    async with unit_of_work(ctx, write=True) as work:
        plan = await success_plans.update_success_plan(work.session, principal=work.principal, now=work.now,
                                                       account_id=account_id, change=change)
    return respond(plan)
