"""The questions every channel answers: the same five tools with the same arguments.

A CSM's retention view (my at-risk accounts renewing in 90 days, by ARR), one account's 360, my
renewals, the manager's portfolio summary, and a forecast update on one renewal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.context import AppContext
from store.auth.principals import Principal
from store.auth.users import principal_of
from store.crm import accounts as account_service
from store.crm import portfolio_snapshots
from store.crm import renewals as renewal_service
from store.crm.account_view import account_360
from store.crm.portfolio import portfolio_summary
from store.database.models import Renewal, User
from store.database.one_hop import on_session
from tools.common import work_as

RETENTION = {"owner": "me", "health_status": ["at_risk"], "renewal_within_days": 90, "sort": "arr_desc",
             "limit": 25}
RENEWALS = {"owner": "me", "within_days": 90}
FORECASTS = (Decimal("1000.00"), Decimal("2000.00"))
MY_BOOK = {"owner": "me", "sort": "arr_desc", "limit": 25}
# Question labels; each is a tool, except "list_accounts/25": a full page of the CSM's book by ARR.
TOOLS = ("list_accounts", "list_accounts/25", "get_account", "list_renewals", "portfolio_summary", "update_renewal")


def tool_of(label: str) -> str:
    return label.split("/")[0]


@dataclass
class Targets:
    """The rows the questions are about, picked once from the portfolio."""

    account_id: int
    renewal_id: int
    # The renewal's version as the last in-process update left it.
    renewal_version: int


async def pick_targets(app: AppContext, csm_email: str) -> Targets:
    async with app.read_sessions() as session:
        owner_id = await session.scalar(select(User.id).where(User.email == csm_email))
        renewal = await session.scalar(select(Renewal).where(Renewal.owner_id == owner_id,
                                                             Renewal.stage == "upcoming").limit(1))
    assert renewal is not None, "the portfolio has no open renewal to update"
    return Targets(account_id=renewal.account_id, renewal_id=renewal.id, renewal_version=renewal.version)


def tool_arguments(tool: str, targets: Targets, version: int, turn: int) -> dict[str, Any]:
    return {
        "list_accounts": RETENTION,
        "list_accounts/25": MY_BOOK,
        "get_account": {"account_id": targets.account_id},
        "list_renewals": RENEWALS,
        "portfolio_summary": {},
        "update_renewal": {"renewal_id": targets.renewal_id, "expected_version": version,
                           "forecast_amount": str(FORECASTS[turn % 2])},
    }[tool]


class RolledBack(Exception):
    """Ends a unit of work in process with a rollback: a write captured for its floor leaves no trace."""


# The questions whose tools run as one unit (see store.database.one_hop); the rest run in a session.
READ_UNITS = ("list_accounts", "list_accounts/25", "get_account", "list_renewals")
UNITS = (*READ_UNITS, "portfolio_summary", "update_renewal")


async def in_process(app: AppContext, tool: str, targets: Targets, csm_email: str, manager_email: str,
                     turn: int, *, roll_back: bool = False) -> object:
    """The service function a tool calls, in its own transaction as the tool runs it, without any transport;
    with `roll_back`, the transaction is rolled back at the end (RolledBack is raised) — run in a session
    then, so that its statements can be captured."""
    email = manager_email if tool == "portfolio_summary" else csm_email
    now = app.clock.now()
    if tool in READ_UNITS and not roll_back:
        return await app.units.run(lambda db: _read(db, principal_of(db, email=email), now, tool, targets))
    if tool == "update_renewal" and not roll_back:
        answer = await app.units.write(lambda db: renewal_service.move_renewal(
            db, principal=principal_of(db, email=email), now=now, renewal_id=targets.renewal_id,
            expected_version=targets.renewal_version, forecast_amount=FORECASTS[turn % 2]))
        targets.renewal_version = answer.version
        return answer
    if tool == "portfolio_summary" and not roll_back:
        # As the tool answers: the whole portfolio's stored figures while they hold. The captured
        # statements (roll_back) are those of computing them, which the floor replays.
        return await portfolio_snapshots.summary(app.units, email=email, now=now)
    async with work_as(app, email, write=tool == "update_renewal") as work:
        if tool in READ_UNITS:
            answer = await on_session(work.session, lambda db: _read(db, work.principal, work.now, tool, targets))
        else:
            answer = await _answer(work.session, work.principal, work.now, tool, targets, turn)
        if roll_back:
            raise RolledBack
    if tool == "update_renewal":
        targets.renewal_version = answer.version  # as a client does: it sends the version the last answer gave
    return answer


def _read(db: Connection, principal: Principal, now: datetime, tool: str, targets: Targets) -> Any:
    if tool == "list_accounts":
        filters = account_service.AccountFilters(owner="me", health_statuses=("at_risk",), renewal_within_days=90)
        return account_service.retention_view(db, principal=principal, filters=filters, today=now.date(), limit=25)
    if tool == "list_accounts/25":
        return account_service.retention_view(db, principal=principal,
                                              filters=account_service.AccountFilters(owner="me"),
                                              today=now.date(), limit=25)
    if tool == "get_account":
        return account_360(db, account_id=targets.account_id, now=now)
    return renewal_service.renewals_due(db, principal=principal, today=now.date(), owner="me", within_days=90)


async def _answer(session: AsyncSession, principal: Principal, now: datetime, tool: str, targets: Targets,
                  turn: int) -> Any:
    if tool == "portfolio_summary":
        return await portfolio_summary(session, principal=principal, now=now)
    return await renewal_service.update_renewal(session, principal=principal, now=now,
                                                renewal_id=targets.renewal_id,
                                                expected_version=targets.renewal_version,
                                                forecast_amount=FORECASTS[turn % 2])
