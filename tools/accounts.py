"""Account tools: the retention view, the account 360, create and update."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store import validation
from store.crm import account_view, accounts
from store.schemas import Account360, AccountDetail, AccountPage
from store.vocabulary import AccountStatus, HealthStatus, LifecycleStage, OnboardingStatus, Segment
from tools.common import ADDITIVE, OVERWRITE, READ, ToolSpec, read_unit, respond, unit_of_work

Limit = Annotated[int, Field(ge=1, le=200, description="Page size (default 25, max 200).")]
Cursor = Annotated[str | None, Field(description="next_cursor from the previous page.")]
AccountId = Annotated[int, Field(description="Account id, from list_accounts.")]
Version = Annotated[int, Field(description="The version you last read; a newer one means a conflict.")]


def tools() -> list[ToolSpec]:
    return [
        (list_accounts, READ),
        (get_account, READ),
        (create_account, ADDITIVE),
        (update_account, OVERWRITE),
    ]


async def list_accounts(
    ctx: Context,
    owner: Annotated[str | None, Field(description='"me", a user email, or omit for everyone.')] = None,
    health_status: Annotated[list[HealthStatus] | None, Field(description="Any of these statuses.")] = None,
    confidence: list[Literal["high", "medium", "low"]] | None = None,
    renewal_within_days: Annotated[int | None, Field(ge=0, le=3660, description="Renewal date today..today+N.")]
    = None,
    min_arr: Decimal | None = None,
    max_arr: Decimal | None = None,
    segment: Segment | None = None,
    lifecycle_stage: LifecycleStage | None = None,
    query: Annotated[str | None, Field(description="Text in the name or domain.")] = None,
    plan_attention: Annotated[bool, Field(description="Success plan outcome at risk or milestone overdue.")] = False,
    include_churned: bool = False,
    sort: Literal["arr_desc", "arr_asc", "renewal_date", "health_score", "confidence", "name"] = "arr_desc",
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, AccountPage]:
    """The retention view: accounts with health and ARR side by side. Filter by owner, health, renewal
    window, ARR, segment, stage, confidence or text; sort by ARR (default), renewal date, health score
    or confidence (worst first).
    Example: my at-risk renewals this quarter = owner "me", health_status ["at_risk","needs_attention"],
    renewal_within_days 90."""
    filters = accounts.AccountFilters(
        owner=owner, health_statuses=tuple(health_status or ()), confidences=tuple(confidence or ()),
        min_arr=min_arr, max_arr=max_arr,
        renewal_within_days=renewal_within_days, segment=segment, lifecycle_stage=lifecycle_stage, query=query,
        include_churned=include_churned, sort=sort, plan_attention=plan_attention,
    )
    page = await read_unit(ctx, lambda work: accounts.retention_view(
        work.db, principal=work.principal, filters=filters, today=work.today, limit=limit, cursor=cursor))
    return respond(page)


async def get_account(
    ctx: Context,
    account_id: AccountId,
    full_text: Annotated[bool, Field(description="Return notes and summaries uncut.")] = False,
) -> Annotated[CallToolResult, Account360]:
    """Everything about one account in one call: details and health, contacts and sponsors, the open renewal,
    last contact and meeting, recent touchpoints and notes, open tasks, usage, support tickets, surveys.
    Text over 400 characters ends in "…[truncated]"; full_text=true returns it whole."""
    return respond(await read_unit(ctx, lambda work: account_view.account_360(
        work.db, account_id=account_id, now=work.now, full_text=full_text)))


ExternalId = Annotated[str | None, Field(description="Its id in your CRM or billing system; imports match on it.")]


async def create_account(
    ctx: Context,
    name: str,
    segment: Segment,
    arr: Annotated[Decimal, Field(description="Annual recurring revenue, e.g. 48000 or 48000.50.")],
    owner: Annotated[str, Field(description='"me" or the owning CSM\'s email.')] = "me",
    currency: Annotated[str, Field(description="ISO 4217 code.")] = "USD",
    seats: Annotated[int, Field(ge=0)] = 0,
    domain: str | None = None,
    external_id: ExternalId = None,
    lifecycle_stage: LifecycleStage = "onboarding",
    onboarding_status: OnboardingStatus = "not_started",
    contract_start: date | None = None,
    renewal_date: Annotated[date | None, Field(description="Opens the first renewal, target = ARR.")] = None,
) -> Annotated[CallToolResult, AccountDetail]:
    """Create an account. Names and domains are unique. A csm creates accounts they own."""
    async with unit_of_work(ctx, write=True) as work:
        detail = await accounts.create_account(
            work.session, principal=work.principal, now=work.now, name=name, owner=owner, segment=segment,
            lifecycle_stage=lifecycle_stage, arr=arr, currency=currency, seats=seats, domain=domain,
            contract_start=contract_start, renewal_date=renewal_date, onboarding_status=onboarding_status,
            external_id=external_id,
        )
    return respond(detail)


async def update_account(
    ctx: Context,
    account_id: AccountId,
    expected_version: Version,
    name: str | None = None,
    domain: str | None = None,
    external_id: ExternalId = None,
    owner: Annotated[str | None, Field(description="New owner's email (manager or admin only).")] = None,
    segment: Segment | None = None,
    lifecycle_stage: LifecycleStage | None = None,
    arr: Decimal | None = None,
    currency: str | None = None,
    seats: Annotated[int | None, Field(ge=0)] = None,
    contract_start: date | None = None,
    renewal_date: Annotated[date | None, Field(description="Moves the open renewal's due date too; not into the "
                                                           "past.")] = None,
    onboarding_status: OnboardingStatus | None = None,
    churn_risk_reason: Annotated[str | None, Field(description='Why it may churn; "" clears it.')] = None,
    status: AccountStatus | None = None,
) -> Annotated[CallToolResult, AccountDetail]:
    """Change only the fields you pass; the owning csm, a manager or an admin may. Renewal stage and
    forecast change with update_renewal."""
    changes = {key: value for key, value in {
        "name": name, "domain": domain, "external_id": external_id, "owner": owner, "segment": segment,
        "lifecycle_stage": lifecycle_stage,
        "arr": arr, "currency": currency, "seats": seats, "contract_start": contract_start,
        "renewal_date": renewal_date, "onboarding_status": onboarding_status,
        "churn_risk_reason": churn_risk_reason, "status": status,
    }.items() if value is not None}
    async with unit_of_work(ctx, write=True) as work:
        validation.not_in_past(renewal_date, "renewal_date", today=work.today,
                               hint="; a renewal that was decided is closed with update_renewal")
        detail = await accounts.update_account(work.session, principal=work.principal, now=work.now,
                                               account_id=account_id, expected_version=expected_version,
                                               changes=changes)
    return respond(detail)
