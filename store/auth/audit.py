"""The audit trail: every write records who did what, before and after, in its own transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.principals import Principal
from store.database.models import AuditEvent, Base
from store.database.one_hop import on_session

AUDIT_INSERT = insert(AuditEvent.__table__)
# Columns that change on every write and would only add noise to a diff.
_NOISE = frozenset({"updated_at", "version", "name_lower", "cycle_run_id", "cycle_done_at"})


def snapshot(row: Base) -> dict[str, Any]:
    """The row's column values as JSON-ready data."""
    values: dict[str, Any] = {}
    for column in inspect(row).mapper.column_attrs:
        if column.key in _NOISE:
            continue
        values[column.key] = _jsonable(getattr(row, column.key))
    return values


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(
    session: AsyncSession,
    *,
    principal: Principal | str,
    action: str,
    entity: str,
    entity_id: int,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session; it commits or rolls back with the write it describes."""
    session.add(AuditEvent(**_event(principal, action, entity, entity_id, at, before, after)))


async def write(
    session: AsyncSession,
    *,
    principal: Principal | str,
    action: str,
    entity: str,
    entity_id: int,
    at: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Write an audit event now, as a Core statement, for writes made with Core statements; `before` and
    `after` hold the changed fields' values (made JSON-ready here). It commits or rolls back with them."""
    await on_session(session, write_on, principal=principal, action=action, entity=entity, entity_id=entity_id,
                     at=at, before=before, after=after)


def write_on(db: Connection, *, principal: Principal | str, action: str, entity: str, entity_id: int, at: datetime,
             before: dict[str, Any], after: dict[str, Any]) -> None:
    """`write`, on a unit of work's connection (see store.database.one_hop)."""
    db.execute(AUDIT_INSERT, _event(principal, action, entity, entity_id, at,
                                    {key: _jsonable(value) for key, value in before.items()},
                                    {key: _jsonable(value) for key, value in after.items()}))


def _event(principal: Principal | str, action: str, entity: str, entity_id: int, at: datetime,
           before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """An audit event's columns; of a before and after pair, only the fields that changed."""
    if before is not None and after is not None:
        changed = {key for key in after if before.get(key) != after.get(key)}
        before = {key: before.get(key) for key in sorted(changed)}
        after = {key: after[key] for key in sorted(changed)}
    return {"at": at, "principal": principal if isinstance(principal, str) else principal.email, "action": action,
            "entity": entity, "entity_id": entity_id, "before": before, "after": after}
