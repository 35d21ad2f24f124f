"""Task tools: the CSM's work list per account."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store import validation
from store.crm import tasks
from store.schemas import TaskOut, TaskPage
from store.vocabulary import TaskPriority, TaskStatus
from tools.accounts import AccountId, Cursor, Limit
from tools.common import ADDITIVE, OVERWRITE, READ, ToolSpec, respond, unit_of_work


def tools() -> list[ToolSpec]:
    return [
        (list_tasks, READ),
        (create_task, ADDITIVE),
        (update_task, OVERWRITE),
    ]


async def list_tasks(
    ctx: Context,
    assignee: Annotated[str | None, Field(description='"me" (default), an email, or "any".')] = "me",
    account_id: int | None = None,
    status: Annotated[list[TaskStatus] | None, Field(description="Default: open and in_progress.")] = None,
    due_within_days: Annotated[int | None, Field(ge=0, le=3660)] = None,
    overdue_only: bool = False,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, TaskPage]:
    """Tasks, soonest due first, then by priority."""
    async with unit_of_work(ctx, write=False) as work:
        page = await tasks.list_tasks(
            work.session, principal=work.principal, today=work.today, assignee=assignee, account_id=account_id,
            statuses=tuple(status) if status else ("open", "in_progress"), due_within_days=due_within_days,
            overdue_only=overdue_only, limit=limit, cursor=cursor,
        )
    return respond(page)


async def create_task(
    ctx: Context,
    account_id: AccountId,
    title: str,
    assignee: Annotated[str, Field(description='"me" or a user email.')] = "me",
    due_date: date | None = None,
    priority: TaskPriority = "normal",
    notes: str | None = None,
) -> Annotated[CallToolResult, TaskOut]:
    """Create a task on an account you own (managers and admins: any account). A due date is today or later."""
    async with unit_of_work(ctx, write=True) as work:
        validation.not_in_past(due_date, "due_date", today=work.today)
        task = await tasks.create_task(work.session, principal=work.principal, now=work.now, account_id=account_id,
                                       title=title, assignee=assignee, due_date=due_date, priority=priority,
                                       notes=notes)
    return respond(task)


async def update_task(
    ctx: Context,
    task_id: int,
    status: Annotated[TaskStatus | None, Field(description="done completes it; open reopens it.")] = None,
    assignee: Annotated[str | None, Field(description="Reassign: a user email or \"me\".")] = None,
    title: str | None = None,
    notes: str | None = None,
    due_date: date | None = None,
    priority: TaskPriority | None = None,
    expected_version: Annotated[int | None, Field(description="Optional guard against lost updates.")] = None,
) -> Annotated[CallToolResult, TaskOut]:
    """Complete, reassign, reschedule or edit a task. Its assignee, the account owner, a manager or an admin
    may change it."""
    changes = {key: value for key, value in {"status": status, "assignee": assignee, "title": title,
                                              "notes": notes, "due_date": due_date, "priority": priority}.items()
               if value is not None}
    async with unit_of_work(ctx, write=True) as work:
        validation.not_in_past(due_date, "due_date", today=work.today)
        task = await tasks.update_task(work.session, principal=work.principal, now=work.now, task_id=task_id,
                                       changes=changes, expected_version=expected_version)
    return respond(task)
