"""Free-text search over accounts, health notes and assessments (ChatGPT's search and fetch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.crm.account_view import get_account_360
from store.database.models import Account, Assessment, HealthNote
from store.errors import InvalidInput, NotFound

PER_KIND = 8


class Hit(BaseModel):
    id: str
    title: str
    account_id: int


class Document(BaseModel):
    id: str
    title: str
    account_id: int
    kind: str
    body: Any
    metadata: dict[str, Any]


def _pattern(query: str) -> str:
    text = query.strip().lower()
    if not text:
        raise InvalidInput("query must not be empty")
    if len(text) > 200:
        raise InvalidInput("query must be at most 200 characters")
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(session: AsyncSession, *, query: str) -> list[Hit]:
    """Accounts by name or domain, notes by text, latest assessments by summary; most relevant kinds first."""
    pattern = _pattern(query)
    hits: list[Hit] = []
    for account in await session.scalars(
            select(Account).where(Account.name_lower.like(pattern, escape="\\")
                                  | Account.domain.like(pattern, escape="\\"))
            .order_by(Account.arr.desc()).limit(PER_KIND)):
        health = (f"{account.health_status} ({account.health_score:.0f})" if account.health_status
                  else "not assessed")
        hits.append(Hit(id=f"account:{account.id}", account_id=account.id,
                        title=f"{account.name} — {health}, ARR {account.arr:,.0f} {account.currency}"))
    for note, name in await session.execute(
            select(HealthNote, Account.name).join(Account, Account.id == HealthNote.account_id)
            .where(func.lower(HealthNote.body).like(pattern, escape="\\"))
            .order_by(HealthNote.created_at.desc()).limit(PER_KIND)):
        excerpt = " ".join(note.body.split())[:80]
        hits.append(Hit(id=f"note:{note.id}", account_id=note.account_id,
                        title=f"Note on {name} ({note.created_at.date()}): {excerpt}"))
    latest = select(func.max(Assessment.id)).group_by(Assessment.account_id)
    for assessment, name in await session.execute(
            select(Assessment, Account.name).join(Account, Account.id == Assessment.account_id)
            .where(Assessment.id.in_(latest), func.lower(Assessment.summary).like(pattern, escape="\\"))
            .order_by(Assessment.score).limit(PER_KIND)):
        hits.append(Hit(id=f"assessment:{assessment.id}", account_id=assessment.account_id,
                        title=f"Health of {name}: {assessment.status} ({assessment.score}/100)"))
    return hits


async def fetch(session: AsyncSession, *, document_id: str, now: datetime) -> Document:
    """One search result in full.

    Raises:
        InvalidInput: the id is not one search returned. NotFound: it no longer exists.
    """
    kind, _, number = document_id.partition(":")
    if kind not in {"account", "note", "assessment"} or not number.isdigit():
        raise InvalidInput(f"id must look like account:12, note:34 or assessment:56 (from search); got {document_id!r}")
    if kind == "account":
        view = await get_account_360(session, account_id=int(number), now=now)
        return Document(id=document_id, title=view.account.name, account_id=view.account.id, kind=kind, body=view,
                        metadata={"owner": view.account.owner, "health": view.account.health_status,
                                  "arr": str(view.account.arr), "renewal_date": str(view.account.renewal_date)})
    if kind == "note":
        note = await session.get(HealthNote, int(number))
        if note is None:
            raise NotFound(f"no note {number}")
        account = await session.get(Account, note.account_id)
        return Document(id=document_id, title=f"Note on {account.name if account else note.account_id}",
                        account_id=note.account_id, kind=kind, body=note.body,
                        metadata={"sentiment": note.sentiment, "created": note.created_at.isoformat()})
    row = await session.get(Assessment, int(number))
    if row is None:
        raise NotFound(f"no assessment {number}")
    account = await session.get(Account, row.account_id)
    drivers = "\n".join(f"- [{d['impact']}] {d['signal']}: {d['evidence']}" for d in row.drivers)
    return Document(id=document_id, title=f"Health of {account.name if account else row.account_id}",
                    account_id=row.account_id, kind=kind,
                    body=f"{row.status} ({row.score}/100, {row.trend})\n{row.summary}\n\nDrivers:\n{drivers}\n\n"
                         f"Next: {'; '.join(row.next_actions)}",
                    metadata={"status": row.status, "score": row.score, "method": row.method,
                              "created": row.created_at.isoformat()})
