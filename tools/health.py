"""Health tools: re-assess one account on demand."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from agents.assessment import assess_accounts
from store.accounts import load_account
from store.assessments import latest_assessment
from store.schemas import AssessmentOut
from tools.accounts import AccountId
from tools.common import ADDITIVE, ToolSpec, app_of, respond, unit_of_work


def tools() -> list[ToolSpec]:
    return [(assess_account, ADDITIVE)]


async def assess_account(ctx: Context, account_id: AccountId) -> Annotated[CallToolResult, AssessmentOut]:
    """Re-assess one account now from its current signals and return the assessment: status, 0-100 score,
    trend, drivers with evidence, next actions, and whether a model or the rules engine wrote it. Fires the
    account's playbooks (tasks, notifications) once."""
    async with unit_of_work(ctx, write=False) as work:
        account = await load_account(work.session, account_id)
        if account.status != "active":
            raise ToolError(f"account {account_id} is {account.status}; only active accounts are assessed")
    outcomes = await assess_accounts(app_of(ctx).agent_deps(), [account_id], force=True)
    if outcomes and outcomes[0].error:
        raise ToolError(f"the assessment could not be saved ({outcomes[0].error}); try again")
    async with unit_of_work(ctx, write=False) as work:
        assessment = await latest_assessment(work.session, account_id)
    assert assessment is not None
    return respond(assessment)
