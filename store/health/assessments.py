"""Stored assessments: the latest per account, the history, and writing a new one atomically."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Integer, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.database.engine import core_rows, rows
from store.database.models import Account, Assessment, AuditEvent, insert_defaults
from store.database.one_hop import on_session
from store.schemas import AssessmentOut


class HealthPoint(BaseModel):
    at: datetime
    status: str
    score: float
    method: str


class PriorAssessment(BaseModel):
    """What the agent needs of the previous assessment to decide and compare."""

    input_digest: str
    status: str
    score: float
    created_at: datetime
    recent_max_score: float


def assessment_out(row: Any) -> AssessmentOut:
    """An assessment's answer, from an Assessment or a row of LATEST's columns."""
    return AssessmentOut(id=row.id, account_id=row.account_id, created_at=row.created_at, method=row.method,
                         fallback_reason=row.fallback_reason, status=row.status, score=row.score,
                         confidence=row.confidence, coverage=row.coverage, trend=row.trend,
                         dimensions=row.dimensions, summary=row.summary, drivers=row.drivers,
                         next_actions=row.next_actions, prompt_tokens=row.prompt_tokens,
                         completion_tokens=row.completion_tokens)


# The newest assessments of one account, newest first; built once, bound per call, read through an index (see
# store.crm.account_view).
_NEWEST_FIRST = (Assessment.created_at.desc(), Assessment.id.desc())
# What an AssessmentOut shows: the signals column (every signal with its evidence) is the largest part of
# a row and is not shown.
LATEST = (
    select(Assessment.id, Assessment.account_id, Assessment.created_at, Assessment.method, Assessment.fallback_reason,
           Assessment.status, Assessment.score, Assessment.confidence, Assessment.coverage, Assessment.trend,
           Assessment.dimensions, Assessment.summary,
           Assessment.drivers, Assessment.next_actions, Assessment.prompt_tokens, Assessment.completion_tokens)
    .where(Assessment.account_id == bindparam("account_id", type_=Integer)).order_by(*_NEWEST_FIRST).limit(1))
HISTORY = (
    select(Assessment.created_at, Assessment.status, Assessment.score, Assessment.method)
    .where(Assessment.account_id == bindparam("account_id", type_=Integer)).order_by(*_NEWEST_FIRST)
    .limit(bindparam("points", type_=Integer)))


async def latest_assessment(session: AsyncSession, account_id: int) -> AssessmentOut | None:
    return await on_session(session, latest_assessment_of, account_id)


def latest_assessment_of(db: Connection, account_id: int) -> AssessmentOut | None:
    """The account's newest assessment, as a read unit (see store.database.one_hop)."""
    row = rows(db, LATEST, {"account_id": account_id}).first()
    return assessment_out(row) if row else None


async def latest_assessments(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, AssessmentOut]:
    """The newest assessment of each account that has one."""
    newest = select(func.max(Assessment.id)).where(Assessment.account_id.in_(account_ids)) \
        .group_by(Assessment.account_id)
    rows = await session.scalars(select(Assessment).where(Assessment.id.in_(newest)))
    return {row.account_id: assessment_out(row) for row in rows}


def health_history(db: Connection, account_id: int, *, limit: int = 8) -> list[HealthPoint]:
    """The account's assessments, newest first: how its health moved (a read unit)."""
    points = rows(db, HISTORY, {"account_id": account_id, "points": limit})
    return [HealthPoint(at=row.created_at, status=row.status, score=row.score, method=row.method) for row in points]


# What the agent reads of each account's assessments, for a chunk of accounts: the latest one, and the best
# score since a moment. Built once and bound per call; only the columns a prior is made of, the JSON
# columns being the bulk of a row.
_CHUNK_IDS = bindparam("ids", expanding=True)
BEST_SCORES = select(Assessment.account_id, func.max(Assessment.score).label("best_score")) \
    .where(Assessment.account_id.in_(_CHUNK_IDS), Assessment.created_at >= bindparam("window_start")) \
    .group_by(Assessment.account_id)
LATEST_OF_EACH = select(Assessment.account_id, Assessment.input_digest, Assessment.status, Assessment.score,
                        Assessment.created_at) \
    .where(Assessment.id.in_(select(func.max(Assessment.id)).where(Assessment.account_id.in_(_CHUNK_IDS))
                             .group_by(Assessment.account_id)))


async def prior_assessments(session: AsyncSession, account_ids: Sequence[int], *,
                            window_start: datetime) -> dict[int, PriorAssessment]:
    """The latest assessment of each account, with the best score it had since `window_start`."""
    ids = list(account_ids)
    best = dict(await core_rows(session, BEST_SCORES, {"ids": ids, "window_start": window_start}))
    return {row.account_id: PriorAssessment(input_digest=row.input_digest, status=row.status, score=row.score,
                                            created_at=row.created_at,
                                            recent_max_score=best.get(row.account_id, row.score))
            for row in await core_rows(session, LATEST_OF_EACH, {"ids": ids})}


async def save_assessments(session: AsyncSession, rows: list[Assessment], *, principal: str) -> None:
    """Store assessments and copy status, score and trend onto their accounts, in the caller's transaction.

    One multi-row INSERT for the assessments, one for their audit events and one UPDATE for the
    accounts, whatever the batch size. The accounts' `version` is left alone: health is the agent's
    field, and a CSM's pending edit of an account must not fail because an assessment landed meanwhile.
    """
    if not rows:
        return
    table = Assessment.__table__
    # Column defaults apply at flush, which a Core INSERT bypasses: fill them in for unset attributes.
    defaults = {key: value for key, value in insert_defaults(table).items() if key != "id"}
    values = [{key: default if getattr(row, key) is None else getattr(row, key) for key, default in defaults.items()}
              for row in rows]
    inserted = await session.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), values)
    for row, assessment_id in zip(rows, inserted.scalars().all(), strict=True):
        row.id = assessment_id
    accounts = Account.__table__
    await session.execute(
        update(accounts).where(accounts.c.id == bindparam("b_account")).values(
            health_status=bindparam("b_status"), health_score=bindparam("b_score"),
            health_confidence=bindparam("b_confidence"), health_trend=bindparam("b_trend"),
            assessed_at=bindparam("b_at")),
        [{"b_account": row.account_id, "b_status": row.status, "b_score": row.score, "b_confidence": row.confidence,
          "b_trend": row.trend, "b_at": row.created_at} for row in rows],
    )
    await session.execute(AuditEvent.__table__.insert(), [
        {"at": row.created_at, "principal": principal, "action": "assessment.create", "entity": "assessment",
         "entity_id": row.id, "before": None,
         "after": {"account_id": row.account_id, "status": row.status, "score": row.score,
                   "confidence": row.confidence, "method": row.method,
                   "fallback_reason": row.fallback_reason}} for row in rows])


async def mark_churn_risks(session: AsyncSession, reasons: dict[int, str]) -> None:
    """Record why accounts may churn, where no reason is recorded yet (no version bump: an agent
    annotation); one statement for the whole batch."""
    if not reasons:
        return
    accounts = Account.__table__
    await session.execute(
        update(accounts).where(accounts.c.id == bindparam("b_account"), accounts.c.churn_risk_reason.is_(None))
        .values(churn_risk_reason=bindparam("b_reason")),
        [{"b_account": account_id, "b_reason": reason} for account_id, reason in reasons.items()])
