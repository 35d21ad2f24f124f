"""Tasks: the CSM's to-do list per account, with assignment, completion and dedupe keys."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, get_args

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.auth.users import resolve_assignee, user_id_filter
from store.crm.accounts import load_account
from store.crm.pagination import check_page_size, decode_cursor, filters_fingerprint, next_cursor
from store.database.engine import core_rows
from store.database.models import Account, Draft, Notification, Task, User
from store.database.versioning import check_fields, check_version, flush_guarded
from store.errors import Forbidden, NotFound
from store.schemas import TaskOut, TaskPage
from store.vocabulary import OPEN_TASK_STATUSES, TaskPriority, TaskSource, TaskStatus

AGENT_TASK_SOURCES = ("playbook", "agent")
_PRIORITY_RANK = case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Task.priority, else_=4)


def task_out(task: Any, account_name: str, assignee_email: str, today: date) -> TaskOut:
    """A task's answer, from a Task or a row of the same columns."""
    overdue = task.status in OPEN_TASK_STATUSES and task.due_date is not None and task.due_date < today
    return TaskOut(id=task.id, account_id=task.account_id, account_name=account_name, title=task.title,
                   notes=task.notes, assignee=assignee_email, due_date=task.due_date, overdue=overdue,
                   status=task.status, priority=task.priority, source=task.source, version=task.version)


async def list_tasks(
    session: AsyncSession, *, principal: Principal, today: date, assignee: str | None = "me",
    account_id: int | None = None, statuses: tuple[str, ...] = OPEN_TASK_STATUSES,
    due_within_days: int | None = None, overdue_only: bool = False, limit: int = 25, cursor: str | None = None,
) -> TaskPage:
    """Tasks, soonest due first (undated last), then by priority.

    Raises:
        InvalidInput: a filter or the cursor is malformed. NotFound: the assignee is unknown.
    """
    check_page_size(limit)
    for status in statuses:
        validation.one_of(status, get_args(TaskStatus), "status")
    assignee_user = aliased(User)
    statement = select(Task, Account.name, assignee_user.email).join(Account, Account.id == Task.account_id) \
        .join(assignee_user, assignee_user.id == Task.assignee_id).where(Task.status.in_(statuses))
    assignee_id = await user_id_filter(session, ref=assignee, principal=principal)
    if assignee_id is not None:
        statement = statement.where(Task.assignee_id == assignee_id)
    if account_id is not None:
        statement = statement.where(Task.account_id == account_id)
    if due_within_days is not None:
        validation.non_negative(due_within_days, "due_within_days", maximum=3660)
        statement = statement.where(Task.due_date <= today + timedelta(days=due_within_days))
    if overdue_only:
        statement = statement.where(Task.due_date < today)
    fingerprint = filters_fingerprint({"a": assignee_id, "acc": account_id, "s": statuses, "d": due_within_days,
                                       "o": overdue_only})
    offset = decode_cursor(cursor, fingerprint)
    total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = await session.execute(
        statement.order_by(Task.due_date.asc().nulls_last(), _PRIORITY_RANK, Task.id).offset(offset).limit(limit)
    )
    items = [task_out(task, name, email, today) for task, name, email in rows]
    return TaskPage(items=items, total=total, next_cursor=next_cursor(offset, len(items), total, fingerprint))


async def create_task(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, title: str,
    assignee: str = "me", due_date: date | None = None, priority: str = "normal", notes: str | None = None,
    source: str = "manual", dedupe_key: str | None = None,
) -> TaskOut:
    """Create a task on an account. With a dedupe key, an existing task with that key is returned instead.

    Raises:
        NotFound, Forbidden, InvalidInput.
    """
    account = await load_account(session, account_id)
    if principal.role == "agent":
        # The agent acts on every account, but only through its playbooks.
        if source not in AGENT_TASK_SOURCES:
            raise Forbidden(f"the agent creates only {' or '.join(AGENT_TASK_SOURCES)} tasks")
    else:
        require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    if dedupe_key is not None:
        existing = await session.scalar(select(Task).where(Task.dedupe_key == dedupe_key))
        if existing is not None:
            return await _out(session, existing, now.date())
    assignee_user = await resolve_assignee(session, ref=assignee, principal=principal, field="assignee")
    task = Task(account_id=account.id, assignee_id=assignee_user.id, created_by_id=principal.user_id,
                title=validation.text(title, "title", max_length=300),
                notes=validation.text(notes, "notes", max_length=4000, required=False) or None if notes else None,
                due_date=due_date, status="open",
                priority=validation.one_of(priority, get_args(TaskPriority), "priority"),
                source=validation.one_of(source, get_args(TaskSource), "source"), dedupe_key=dedupe_key,
                created_at=now, updated_at=now)
    session.add(task)
    await session.flush()
    audit.record(session, principal=principal, action="task.create", entity="task", entity_id=task.id, at=now,
                 after=audit.snapshot(task))
    return task_out(task, account.name, assignee_user.email, now.date())


TASK_FIELDS = ("title", "notes", "due_date", "priority", "status", "assignee")


async def update_task(
    session: AsyncSession, *, principal: Principal, now: datetime, task_id: int, changes: dict[str, Any],
    expected_version: int | None = None,
) -> TaskOut:
    """Edit, reassign, complete, cancel or reopen a task.

    The task's assignee, the account's owner, a manager or an admin may change it.

    Raises:
        NotFound, Forbidden, InvalidInput, Conflict (stale expected_version).
    """
    check_fields(changes, TASK_FIELDS)
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id}; find ids with list_tasks")
    account = await load_account(session, task.account_id)
    if task.assignee_id != principal.user_id:
        try:
            require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
        except Forbidden as exc:
            raise Forbidden(f"task {task.id} is neither assigned to {principal.email} nor on an account they own; "
                            "its assignee, the account owner, a manager or an admin can change it") from exc
    check_version("task", task.id, task.version, expected_version)
    before = audit.snapshot(task)
    await _apply(session, principal=principal, task=task, changes=changes, now=now)
    task.updated_at = now
    await flush_guarded(session, "task", task_id)
    audit.record(session, principal=principal, action="task.update", entity="task", entity_id=task.id, at=now,
                 before=before, after=audit.snapshot(task))
    return await _out(session, task, now.date())


async def _apply(session: AsyncSession, *, principal: Principal, task: Task, changes: dict[str, Any],
                 now: datetime) -> None:
    if "title" in changes:
        task.title = validation.text(changes["title"], "title", max_length=300)
    if "notes" in changes:
        task.notes = validation.text(changes["notes"] or "", "notes", max_length=4000, required=False) or None
    if "due_date" in changes:
        task.due_date = changes["due_date"]
    if "priority" in changes:
        task.priority = validation.one_of(changes["priority"], get_args(TaskPriority), "priority")
    if "assignee" in changes:
        task.assignee_id = (await resolve_assignee(session, ref=changes["assignee"], principal=principal,
                                                   field="assignee")).id
    if "status" in changes:
        status = validation.one_of(changes["status"], get_args(TaskStatus), "status")
        if status == "done" and task.status != "done":
            task.completed_at = now
        elif status != "done":
            task.completed_at = None
        task.status = status


async def _out(session: AsyncSession, task: Task, today: date) -> TaskOut:
    row = (await session.execute(
        select(Account.name, User.email).select_from(Task).join(User, User.id == Task.assignee_id)
        .join(Account, Account.id == Task.account_id).where(Task.id == task.id)
    )).one()
    return task_out(task, row[0], row[1], today)


def add_agent_task(session: AsyncSession, *, principal: Principal, account_id: int, assignee_id: int, title: str,
                   due_date: date | None, priority: str, dedupe_key: str, now: datetime,
                   source: str = "playbook") -> Task:
    """Queue a task the agent's playbooks decided on; the caller flushes and audits (see `audit_new_tasks`).

    Raises:
        Forbidden: the principal is not the agent.
    """
    if principal.role != "agent" or source not in AGENT_TASK_SOURCES:
        raise Forbidden("only the agent adds playbook tasks this way")
    task = Task(account_id=account_id, assignee_id=assignee_id, created_by_id=principal.user_id,
                title=validation.text(title, "title", max_length=300), due_date=due_date, status="open",
                priority=validation.one_of(priority, get_args(TaskPriority), "priority"), source=source,
                dedupe_key=dedupe_key, created_at=now, updated_at=now)
    session.add(task)
    return task


def audit_new_tasks(session: AsyncSession, tasks: list[Task], *, principal: Principal, now: datetime) -> None:
    """Audit tasks once a flush has given them ids."""
    for task in tasks:
        audit.record(session, principal=principal, action="task.create", entity="task", entity_id=task.id, at=now,
                     after=audit.snapshot(task))


# The dedupe keys the agent's playbooks have recorded for a chunk of accounts, one statement per table.
_DEDUPE_KEYS = tuple(
    select(table.dedupe_key).where(table.account_id.in_(bindparam("ids", expanding=True)),
                                   table.dedupe_key.is_not(None))
    for table in (Task, Notification, Draft))


async def existing_dedupe_keys(session: AsyncSession, account_ids: list[int]) -> set[str]:
    """Dedupe keys of the tasks, notifications and drafts already recorded for these accounts."""
    keys: set[str] = set()
    for statement in _DEDUPE_KEYS:
        keys.update(key for key, in await core_rows(session, statement, {"ids": account_ids}))
    return keys
