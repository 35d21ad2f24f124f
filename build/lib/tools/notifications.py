"""Notification tools: the user's own alerts and early warnings."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store.crm import notifications
from store.schemas import NotificationPage
from tools.accounts import Cursor, Limit
from tools.common import MARKING, ToolSpec, respond, unit_of_work


def tools() -> list[ToolSpec]:
    return [
        (list_notifications, MARKING),
    ]


async def list_notifications(
    ctx: Context,
    unread_only: bool = True,
    mark_read: Annotated[bool, Field(description="Mark the returned notifications read.")] = False,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, NotificationPage]:
    """Your notifications (early warnings, renewal alerts), newest first."""
    async with unit_of_work(ctx, write=mark_read) as work:
        page = await notifications.list_notifications(work.session, principal=work.principal, now=work.now,
                                                      unread_only=unread_only, mark_read=mark_read, limit=limit,
                                                      cursor=cursor)
    return respond(page)
