"""The account brief resource and the two workflow prompts."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from prompts import render
from store.crm import account_view
from tools.common import read_unit


def register(mcp: MCPServer) -> None:
    mcp.resource("csdesk://accounts/{account_id}", name="account_brief", mime_type="text/markdown",
                 description="A readable brief of one account: health, renewal, people, history, tasks.")(account_brief)
    mcp.prompt(name="weekly_risk_review", description="Review the accounts at risk and the renewals coming up.")(
        weekly_risk_review)
    mcp.prompt(name="prepare_renewal", description="Prepare the renewal conversation for one account.")(
        prepare_renewal)


async def account_brief(account_id: int, ctx: Context) -> str:
    try:
        view = await read_unit(ctx, lambda work: account_view.account_360(work.db, account_id=account_id, now=work.now))
    except ToolError as exc:
        raise ResourceError(str(exc)) from exc
    return render("account_brief.md.j2", a=view)


def weekly_risk_review(owner: str = "me") -> str:
    """Owner: "me" (default) or a CSM's email."""
    return render("weekly_risk_review.j2", owner=owner.strip() or "me")


def prepare_renewal(account_id: str) -> str:
    """The account id, from list_accounts or list_renewals."""
    if not account_id.strip().isdigit():
        raise ValueError(f"account_id must be a number like 42; got {account_id!r}")
    return render("prepare_renewal.j2", account_id=int(account_id))
