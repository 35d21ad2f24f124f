"""What the web desk shows beside the tools' answers: a list page's extra columns and an account's history
for its charts. Read units (see store.database.one_hop); each reads through an index on account_id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, case, func, select, type_coerce

from store.database.engine import rows
from store.database.models import Account, Renewal, Touchpoint, UsageSnapshot, UtcDateTime
from store.health.assessments import health_history
from store.health.signal_facts import OUTBOUND_KINDS
from store.schemas import HealthPointOut, UsageOut
from store.vocabulary import OPEN_RENEWAL_STAGES

# How far back an account page's charts reach.
HEALTH_POINTS_CHARTED = 120
USAGE_PERIODS_CHARTED = 12

_IDS = bindparam("ids", expanding=True)
_STAGES = select(Renewal.account_id, Renewal.stage, Renewal.due_date) \
    .where(Renewal.account_id.in_(_IDS), Renewal.stage.in_(OPEN_RENEWAL_STAGES))
_LAST_CONTACT = select(Touchpoint.account_id,
                       type_coerce(func.max(case((Touchpoint.kind.in_(OUTBOUND_KINDS), Touchpoint.occurred_at))),
                                   UtcDateTime()).label("last_outbound")) \
    .where(Touchpoint.account_id.in_(_IDS)).group_by(Touchpoint.account_id)
_FACTS = select(Account.id, Account.health_status, Account.health_score, Account.arr, Account.currency) \
    .where(Account.id.in_(_IDS))
_USAGE = select(UsageSnapshot.period_start, UsageSnapshot.active_users, UsageSnapshot.usage_count,
                UsageSnapshot.features_adopted).where(UsageSnapshot.account_id == bindparam("account_id")) \
    .order_by(UsageSnapshot.period_start.desc()).limit(USAGE_PERIODS_CHARTED)


@dataclass(frozen=True)
class RowFacts:
    """A list row's account beside what the list itself answers."""

    renewal_stage: str | None = None
    last_contact_at: datetime | None = None
    health_status: str | None = None
    health_score: float | None = None
    arr: Decimal | None = None
    currency: str | None = None


def row_facts(db: Connection, account_ids: Sequence[int]) -> dict[int, RowFacts]:
    """Each account's open renewal stage, last outbound contact, health and ARR, for one page's rows."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    stages = {row.account_id: row.stage for row in rows(db, _STAGES, {"ids": ids})}
    contacts = {row.account_id: row.last_outbound for row in rows(db, _LAST_CONTACT, {"ids": ids})}
    return {row.id: RowFacts(renewal_stage=stages.get(row.id), last_contact_at=contacts.get(row.id),
                             health_status=row.health_status, health_score=row.health_score, arr=row.arr,
                             currency=row.currency)
            for row in rows(db, _FACTS, {"ids": ids})}


@dataclass(frozen=True)
class AccountTrends:
    """Oldest first, for drawing."""

    health: list[HealthPointOut]
    usage: list[UsageOut]


def account_trends(db: Connection, account_id: int) -> AccountTrends:
    """The account's assessments and monthly usage over time, for its page's charts."""
    points = health_history(db, account_id, limit=HEALTH_POINTS_CHARTED)
    usage = rows(db, _USAGE, {"account_id": account_id})
    return AccountTrends(
        health=[HealthPointOut(at=point.at.date(), status=point.status, score=point.score)
                for point in reversed(points)],
        usage=[UsageOut.model_validate(row) for row in reversed(list(usage))])
