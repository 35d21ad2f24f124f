"""Notifications: early warnings and alerts addressed to one user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth import audit
from store.auth.principals import Principal
from store.crm.pagination import check_page_size, decode_cursor, filters_fingerprint, next_cursor
from store.database.models import Notification
from store.schemas import NotificationOut, NotificationPage


async def list_notifications(
    session: AsyncSession, *, principal: Principal, now: datetime, unread_only: bool = True,
    mark_read: bool = False, limit: int = 25, cursor: str | None = None,
) -> NotificationPage:
    """The principal's own notifications, newest first; optionally marks the returned ones read.

    Raises:
        InvalidInput: the cursor or limit is malformed.
    """
    check_page_size(limit)
    statement = select(Notification).where(Notification.user_id == principal.user_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    fingerprint = filters_fingerprint({"u": principal.user_id, "unread": unread_only})
    # Marking read shrinks an unread-only listing, so paging on must restart from the top.
    offset = 0 if (mark_read and unread_only) else decode_cursor(cursor, fingerprint)
    total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(await session.scalars(
        statement.order_by(Notification.created_at.desc(), Notification.id.desc()).offset(offset).limit(limit)
    ))
    items = [NotificationOut(id=row.id, account_id=row.account_id, kind=row.kind, message=row.message,
                             created_at=row.created_at, read=row.read_at is not None) for row in rows]
    unread_ids = [row.id for row in rows if row.read_at is None]
    if mark_read and unread_ids:
        await session.execute(update(Notification).where(Notification.id.in_(unread_ids)).values(read_at=now))
        audit.record(session, principal=principal, action="notification.mark_read", entity="notification",
                     entity_id=unread_ids[0], at=now, after={"ids": unread_ids})
    if mark_read and unread_only:
        # The rest are still unread: the next call without a cursor returns them.
        return NotificationPage(items=items, total=total, next_cursor=None)
    return NotificationPage(items=items, total=total,
                                 next_cursor=next_cursor(offset, len(items), total, fingerprint))


async def notify(
    session: AsyncSession, *, user_id: int, account_id: int | None, kind: str, message: str, now: datetime,
    dedupe_key: str | None = None,
) -> bool:
    """Add a notification unless one with the same dedupe key exists; True when one was added."""
    if dedupe_key is not None:
        exists = await session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key))
        if exists is not None:
            return False
    session.add(Notification(user_id=user_id, account_id=account_id, kind=kind, message=message,
                             dedupe_key=dedupe_key, created_at=now))
    return True


def add_notification(session: AsyncSession, *, user_id: int, account_id: int | None, kind: str, message: str,
                     now: datetime, dedupe_key: str | None = None) -> Notification:
    """Queue a notification whose dedupe key the caller has already checked."""
    notification = Notification(user_id=user_id, account_id=account_id, kind=kind, message=message,
                                dedupe_key=dedupe_key, created_at=now)
    session.add(notification)
    return notification
