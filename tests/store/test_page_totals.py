"""A list's total counts exactly the rows its pages hold, for every filter and sort: the total is
counted by its own statement (a scalar subquery beside the page), so the two must not drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agents.cycle import run_cycle
from store.accounts import ACCOUNT_SORTS, AccountFilters, list_accounts
from store.demo_portfolio import seed_demo_portfolio
from store.renewals import RENEWAL_SORTS, list_renewals
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


@pytest.fixture
async def portfolio(db: Db) -> AsyncIterator[Db]:
    async with db.write() as session:
        await seed_demo_portfolio(session, today=TODAY, accounts=40)
    await run_cycle(db.app.agent_deps())
    yield db


async def _all_pages(session: AsyncSession, read: Any) -> tuple[list[int], set[int]]:
    ids, totals, cursor = [], set(), None
    while True:
        page = await read(session, cursor)
        ids += [item.id for item in page.items]
        totals.add(page.total)
        if page.next_cursor is None:
            return ids, totals
        assert page.items, f"an empty page points to another: total {page.total}, {len(ids)} rows read"
        cursor = page.next_cursor


async def test_every_account_list_total_counts_the_rows_its_pages_hold(portfolio: Db) -> None:
    manager = portfolio.principals["morgan"]
    seen_rows = 0
    async with portfolio.read() as session:
        for question in ACCOUNT_QUESTIONS:
            for sort in ACCOUNT_SORTS:
                filters = AccountFilters(**{**question.__dict__, "sort": sort})

                async def read(session: AsyncSession, cursor: str | None, filters: AccountFilters = filters) -> Any:
                    return await list_accounts(session, principal=manager, filters=filters, today=TODAY, limit=7,
                                               cursor=cursor)

                ids, totals = await _all_pages(session, read)
                assert totals == {len(ids)} and len(set(ids)) == len(ids), (question, sort)
                seen_rows += len(ids)
    assert seen_rows > 500


async def test_every_renewal_list_total_counts_the_rows_its_pages_hold(portfolio: Db) -> None:
    manager = portfolio.principals["morgan"]
    seen_rows = 0
    async with portfolio.read() as session:
        for question in RENEWAL_QUESTIONS:
            for sort in RENEWAL_SORTS:
                async def read(session: AsyncSession, cursor: str | None, question: dict = question,
                               sort: str = sort) -> Any:
                    return await list_renewals(session, principal=manager, today=TODAY, sort=sort, limit=7,
                                               cursor=cursor, **question)

                ids, totals = await _all_pages(session, read)
                assert totals == {len(ids)} and len(set(ids)) == len(ids), (question, sort)
                seen_rows += len(ids)
    assert seen_rows > 100
