"""Outreach tools: ask for a draft, see the review queue, open a draft, and decide on it."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from agents.touchpoint import draft_on_request
from store.crm import drafts
from store.errors import CsdeskError
from store.schemas import DraftOut, DraftPage
from tools.accounts import AccountId, Cursor, Limit
from tools.common import ADDITIVE, READ, TRANSITION, ToolSpec, acting_principal, app_of, respond, unit_of_work

DraftKind = Literal["check_in", "usage_nudge", "renewal_ack", "value_review", "sponsor_intro", "detractor_follow_up"]
DraftStatus = Literal["pending_review", "approved", "rejected", "sent", "cancelled", "stale"]


def tools() -> list[ToolSpec]:
    return [(draft_touchpoint, ADDITIVE), (list_drafts, READ), (get_draft, READ), (review_draft, TRANSITION)]


async def draft_touchpoint(
    ctx: Context,
    account_id: AccountId,
    kind: DraftKind,
    instruction: Annotated[str | None, Field(description=(
        'e.g. "mention the new reporting feature"; with no model it is left in the body as a marked paragraph '
        "to write in before approval (see instruction_use)"))] = None,
) -> Annotated[CallToolResult, DraftOut]:
    """Draft an email for an account you own, written from its real situation, addressed to the right contact
    (sponsor for renewals, champion for check-ins). It waits for a reviewer; nothing is sent."""
    principal = await acting_principal(ctx)
    try:
        draft = await draft_on_request(app_of(ctx).agent_deps(), principal=principal, account_id=account_id,
                                       kind=kind, instruction=instruction)
    except CsdeskError as exc:
        raise ToolError(str(exc)) from exc
    return respond(draft)


async def list_drafts(
    ctx: Context,
    status: Annotated[list[DraftStatus] | None, Field(description="Default: pending_review.")] = None,
    kind: list[DraftKind] | None = None,
    owner: Annotated[str | None, Field(description='Account owner: "me" or an email.')] = None,
    account_id: int | None = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, DraftPage]:
    """The review queue of drafted outreach, oldest first. Open one with get_draft."""
    async with unit_of_work(ctx, write=False) as work:
        page = await drafts.list_drafts(work.session, principal=work.principal,
                                        statuses=tuple(status or ("pending_review",)), kinds=tuple(kind or ()),
                                        owner=owner, account_id=account_id, limit=limit, cursor=cursor)
    result = respond(page)
    if client_supports_apps(ctx):
        # For the review-queue view alone: whether to offer approve and reject (review_draft checks again).
        result.meta = {"csdesk/viewer": {"role": work.principal.role,
                                         "reviews": work.principal.role in drafts.DECIDERS}}
    return result


async def get_draft(ctx: Context, draft_id: int) -> Annotated[CallToolResult, DraftOut]:
    """One draft in full: recipient, subject, body, why it was written, the account's health, its history."""
    async with unit_of_work(ctx, write=False) as work:
        draft = await drafts.get_draft(work.session, draft_id=draft_id)
    return respond(draft)


async def review_draft(
    ctx: Context,
    draft_id: int,
    decision: Literal["approve", "edit_and_approve", "edit", "reject", "cancel"],
    subject: Annotated[str | None, Field(description="New subject (edit, edit_and_approve).")] = None,
    body: Annotated[str | None, Field(description="New body (edit, edit_and_approve).")] = None,
    note: Annotated[str | None, Field(description="Why; required to reject.")] = None,
    expected_version: int | None = None,
) -> Annotated[CallToolResult, DraftOut]:
    """Decide on a draft. Only a reviewer, manager or admin approves or rejects, never their own draft.
    Edits keep the original text. A draft whose account changed materially turns stale instead."""
    async with unit_of_work(ctx, write=True) as work:
        draft = await drafts.review_draft(work.session, principal=work.principal, now=work.now, draft_id=draft_id,
                                          decision=decision, subject=subject, body=body, note=note,
                                          expected_version=expected_version)
    if draft.status == "stale" and decision in {"approve", "edit_and_approve"}:
        raise ToolError(f"draft {draft_id} was not approved: it is stale ({draft.stale_reason}); "
                        "draft a new one with draft_touchpoint")
    return respond(draft)
