"""Storing a checked request's events: once each, and nothing more, so a sender waits only for its events
to be durable. Counting them into usage is the roll-up's job (store.events.rollup), which runs beside
the server and before every assessment.

A request is one statement in one transaction: all its new events commit, or none do. An event whose
messageId is stored already is left out, so a resent batch is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import ProductEvent
from store.database.upsert import insert_missing_returning
from store.events.messages import Message
from store.events.rollup import NEW

EVENTS = ProductEvent.__table__


@dataclass(frozen=True)
class Stored:
    """What one request stored."""

    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


async def store_events(session: AsyncSession, messages: list[Message], *, token_id: int | None,
                       received_at: datetime) -> Stored:
    """Store the events whose messageId is new, in the caller's transaction."""
    unique: dict[str, Message] = {}
    for message in messages:
        unique.setdefault(message.message_id, message)
    rows = [{"message_id": m.message_id, "type": m.type, "user_key": m.user_key, "name": m.name, "feature": m.feature,
             "group_id": m.group_id, "email": m.email, "occurred_at": m.occurred_at, "received_at": received_at,
             "state": NEW, "token_id": token_id, "body": m.body} for m in unique.values()]
    inserted = await insert_missing_returning(session, EVENTS, rows, keys=["message_id"], returning=[EVENTS.c.id])
    return Stored(received=len(messages), stored=len(inserted))
