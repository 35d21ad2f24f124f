"""Health tools: re-assess one account on demand."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from agents.assessment import assess_on_request
from store.errors import CsdeskError
from store.schemas import AssessmentOut
from tools.accounts import AccountId
from tools.common import ADDITIVE, ToolSpec, acting_principal, app_of, respond


def tools() -> list[ToolSpec]:
    return [(assess_account, ADDITIVE)]


async def assess_account(ctx: Context, account_id: AccountId) -> Annotated[CallToolResult, AssessmentOut]:
    """Re-assess one account now from its current signals and return the assessment: status, 0-100 score,
    trend, drivers with evidence, next actions, and whether a model or the rules engine wrote it. Fires the
    account's playbooks (tasks, notifications) once."""
    await acting_principal(ctx)  # only an active user may ask
    try:
        assessment = await assess_on_request(app_of(ctx).agent_deps(), account_id)
    except CsdeskError as exc:
        raise ToolError(str(exc)) from exc
    return respond(assessment)
