"""A list's total counts exactly the rows its pages hold, for every filter and sort: the total is
counted by its own statement (a scalar subquery beside the page), so the two must not drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agents.cycle import run_cycle
from store.auth.principals import Principal
from store.crm.accounts import ACCOUNT_SORTS, AccountFilters, list_accounts
from store.crm.renewals import RENEWAL_SORTS, list_renewals
from store.demo.portfolio import seed_demo_portfolio
from tests.conftest import TODAY, Db

DEMO_CSM = "ana.garcia@example.com"
ACCOUNT_QUESTIONS = [
    AccountFilters(),
    AccountFilters(include_churned=True),
    AccountFilters(owner=DEMO_CSM),
    AccountFilters(health_statuses=("at_risk", "needs_attention")),
    AccountFilters(min_arr=Decimal("20000"), max_arr=Decimal("90000")),
    AccountFilters(renewal_within_days=120),
    AccountFilters(segment="enterprise"),
    AccountFilters(lifecycle_stage="mature"),
    AccountFilters(query="a"),
    AccountFilters(owner=DEMO_CSM, health_statuses=("at_risk",), renewal_within_days=365, include_churned=True),
]
RENEWAL_QUESTIONS: list[dict[str, Any]] = [
    {"within_days": None},
    {"within_days": 90},
    {"within_days": 365, "include_overdue": False},
    {"owner": DEMO_CSM, "within_days": None},
    {"within_days": None, "health_statuses": ("at_risk", "needs_attention")},
    {"within_days": None, "stages": ("upcoming", "closed_won", "closed_lost")},
]


# A list read: (session, page size, cursor) -> a page.
Read = Callable[[AsyncSession, int, "str | None"], Awaitable[Any]]


@pytest.fixture
async def portfolio(db: Db) -> AsyncIterator[Db]:
    async with db.write() as session:
        await seed_demo_portfolio(session, today=TODAY, accounts=40)
    await run_cycle(db.app.agent_deps())
    yield db


async def _rows_read_checking_totals(session: AsyncSession, questions: dict[str, Read]) -> int:
    """Page through every question seven rows at a time, checking each page's total against the rows
    all its pages hold; how many rows were read."""
    read_in_all = 0
    for label, read in questions.items():
        ids, totals, cursor = [], set(), None
        while True:
            page = await read(session, 7, cursor)
            ids += [item.id for item in page.items]
            totals.add(page.total)
            if page.next_cursor is None:
                break
            assert page.items, f"{label}: an empty page points to another (total {page.total}, {len(ids)} read)"
            cursor = page.next_cursor
        assert totals == {len(ids)} and len(set(ids)) == len(ids), label
        read_in_all += len(ids)
    return read_in_all


async def test_every_account_list_total_counts_the_rows_its_pages_hold(portfolio: Db) -> None:
    manager = portfolio.principals["morgan"]
    questions = {f"{question} by {sort}": partial(_accounts, manager, AccountFilters(**{**question.__dict__,
                                                                                          "sort": sort}))
                 for question in ACCOUNT_QUESTIONS for sort in ACCOUNT_SORTS}
    async with portfolio.read() as session:
        assert await _rows_read_checking_totals(session, questions) > 500


async def test_every_renewal_list_total_counts_the_rows_its_pages_hold(portfolio: Db) -> None:
    manager = portfolio.principals["morgan"]
    questions = {f"{question} by {sort}": partial(_renewals, manager, {**question, "sort": sort})
                 for question in RENEWAL_QUESTIONS for sort in RENEWAL_SORTS}
    async with portfolio.read() as session:
        assert await _rows_read_checking_totals(session, questions) > 100


async def _accounts(principal: Principal, filters: AccountFilters, session: AsyncSession, limit: int,
                    cursor: str | None) -> Any:
    return await list_accounts(session, principal=principal, filters=filters, today=TODAY, limit=limit, cursor=cursor)


async def _renewals(principal: Principal, question: dict[str, Any], session: AsyncSession, limit: int,
                    cursor: str | None) -> Any:
    return await list_renewals(session, principal=principal, today=TODAY, limit=limit, cursor=cursor, **question)
