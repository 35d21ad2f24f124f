"""Revenue events: every change to an account's contracted ARR, recorded by the write that caused it.

The account row holds today's ARR; these rows hold its history, so retention figures (GRR, NRR,
logo churn) are computed from facts rather than reconstructed from the audit log.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from store.database.models import Account, RevenueEvent

ZERO = Decimal("0.00")


def contracted_arr(account: Account) -> Decimal:
    """The ARR the account pays: its ARR while active, nothing once churned."""
    return ZERO if account.status == "churned" else account.arr


def event_kind(before: Decimal, after: Decimal) -> str:
    if before == after:
        return "renewal"
    if before == 0:
        return "new"
    if after == 0:
        return "churn"
    return "expansion" if after > before else "contraction"


def record_change(
    session: AsyncSession, *, account: Account, before: Decimal, before_currency: str, on: date, now: datetime,
    source: str, renewal_id: int | None = None, always: bool = False, reactivated: bool = False,
) -> RevenueEvent | None:
    """Record the move from `before` to the account's contracted ARR now; nothing if it did not move.

    `always` records an unchanged amount too (a renewal closed flat is still a renewal). A change of
    currency is recorded as the old amount ending and the new one starting, so that no figure ever
    adds two currencies together.
    """
    after = contracted_arr(account)
    if before_currency != account.currency and before > 0:
        session.add(_event(account, on, now, source, renewal_id, currency=before_currency, before=before, after=ZERO))
        before = ZERO
    if after == before and not always:
        return None
    if before == 0 and after == 0:
        return None
    event = _event(account, on, now, source, renewal_id, currency=account.currency, before=before, after=after)
    if reactivated and before == 0:
        event.kind = "reactivation"
    session.add(event)
    return event


def opening_event(account: Account, *, on: date, now: datetime, source: str) -> RevenueEvent | None:
    """The `new` event of an account that starts paying; None for an account created at zero ARR."""
    if contracted_arr(account) == 0:
        return None
    return _event(account, on, now, source, None, currency=account.currency, before=ZERO,
                  after=contracted_arr(account))


def _event(account: Account, on: date, now: datetime, source: str, renewal_id: int | None, *, currency: str,
           before: Decimal, after: Decimal) -> RevenueEvent:
    return RevenueEvent(account_id=account.id, occurred_on=on, kind=event_kind(before, after), currency=currency,
                        arr_before=before, arr_after=after, renewal_id=renewal_id, source=source, created_at=now)
