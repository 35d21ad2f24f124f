"""Beside the HTTP server, the whole portfolio's stored figures follow a write without waiting for a request."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from server.figure_keeper import keeping_figures
from store.crm.portfolio import portfolio_summary
from store.crm.portfolio_schemas import PortfolioSummary
from store.database.models import PortfolioSnapshot
from tests.conftest import NOW, Db
from tests.store.test_portfolio import _change, _fixture


async def _live(db: Db) -> PortfolioSummary:
    async with db.read() as session:
        return await portfolio_summary(session, principal=db.principals["morgan"], now=NOW)


async def test_the_stored_figures_follow_a_write_without_a_request(db: Db) -> None:
    ids = await _fixture(db)

    async def stored_payload() -> object:
        async with db.read() as session:
            return await session.scalar(select(PortfolioSnapshot.payload).where(PortfolioSnapshot.kind == "summary"))

    async def until_stored_is(expected: PortfolioSummary) -> None:
        for _ in range(400):
            payload = await stored_payload()
            if payload is not None and PortfolioSummary.model_validate(payload) == expected:
                return
            await asyncio.sleep(0.025)
        raise AssertionError("the stored figures did not follow")

    async with keeping_figures(db.app, every=0.05):
        await until_stored_is(await _live(db))
        await _change(db, ids["Echo"], NOW.date(), arr="61000")
        await until_stored_is(await _live(db))
