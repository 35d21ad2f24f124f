"""The peer's questions (bench/peer.py) are ones the peer accepts and that ask what csdesk answers.

mcp-server-sqlite runs a `read_query` only if it begins with SELECT, and it reports a refusal as
ordinary text rather than as a tool error: a question it refused once passed for a fast answer.
Here every question passes the peer's rule, runs on csdesk's schema, and the retention and health
figures it returns equal csdesk's own portfolio summary on the same file.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from decimal import Decimal

import pytest
from mcp.types import CallToolResult, TextContent
from sqlalchemy import select

from agents.cycle import run_cycle
from bench import peer
from bench.portfolio import MANAGER, NOW, TODAY
from server.context import open_app
from server.settings import Settings
from store.auth.users import principal_for
from store.clock import FixedClock
from store.crm.accounts import update_account
from store.crm.portfolio import portfolio_summary, status_on
from store.crm.portfolio_schemas import PortfolioSummary
from store.database.models import Account
from store.demo.portfolio import seed_demo_portfolio

ACCOUNTS = 120


async def _portfolio(settings: Settings, *, week_of_history: bool) -> PortfolioSummary:
    """A seeded portfolio on the bench's day (the peer's SQL has that day's dates written in), assessed
    today, and csdesk's summary of it for the manager. Assessed only today, accounts become at_risk;
    with `week_of_history` it is assessed eight days ago too, and one account at risk a week ago
    churns today: a mover that left at_risk."""
    async with open_app(settings, clock=FixedClock(NOW - timedelta(days=8))) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=ACCOUNTS)
        if week_of_history:
            await run_cycle(app.agent_deps())
    async with open_app(settings, clock=FixedClock(NOW)) as app:
        await run_cycle(app.agent_deps())
        async with app.write_sessions() as session, session.begin():
            manager = await principal_for(session, email=MANAGER)
            if week_of_history:
                account = await session.scalar(
                    select(Account).where(Account.status == "active", status_on(NOW - timedelta(days=7)) == "at_risk")
                    .order_by(Account.id).limit(1))
                await update_account(session, principal=manager, now=NOW, account_id=account.id,
                                     expected_version=account.version, changes={"status": "churned"})
        async with app.read_sessions() as session, session.begin():
            return await portfolio_summary(session, principal=manager, now=NOW)


def _run(path: str, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def _cents(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


async def test_every_peer_question_is_accepted_and_runs(sqlite_settings: Settings) -> None:
    await _portfolio(sqlite_settings, week_of_history=False)
    for tool, steps in peer.questions(account_id=1, renewal_id=1).items():
        for peer_tool, sql in steps:
            is_select = sql.strip().upper().startswith("SELECT")
            assert is_select == (peer_tool == "read_query"), f"{tool}: the peer would refuse {sql[:60]}"
            rows = _run(str(sqlite_settings.db_path), sql)
            if peer_tool == "read_query" and tool != "get_account" and "LIMIT 10" not in sql:  # movers may be none
                assert rows, f"{tool}: {sql[:60]} found nothing on a seeded portfolio"


@pytest.mark.parametrize("week_of_history", [False, True], ids=["became_at_risk", "left_at_risk"])
async def test_the_peers_summary_figures_equal_csdesks(sqlite_settings: Settings, week_of_history: bool) -> None:
    summary = await _portfolio(sqlite_settings, week_of_history=week_of_history)
    assert summary.currency == "USD" and summary.retention.period_start == date.fromisoformat(peer.PERIOD_START)
    health, _pipeline, retention, month_ago, became, left = (sql for _, sql in
                                                             peer.questions(1, 1)["portfolio_summary"])
    path = str(sqlite_settings.db_path)

    starting, kept, ending, cohort, churned = _run(path, retention)[0]
    figures = summary.retention
    assert (cohort, churned) == (figures.starting_accounts, figures.logos_churned)
    assert (_cents(starting), _cents(ending)) == (figures.starting_arr, figures.ending_arr)
    assert (_cents(kept) * 100 / _cents(starting)).quantize(Decimal("0.01")) == figures.grr_pct

    now = {status: (count, _cents(arr)) for status, count, arr in _run(path, health)}
    assert now == {piece.status: (piece.accounts, piece.arr) for piece in summary.health if piece.accounts}
    then = {status: (count, _cents(arr)) for status, count, arr in _run(path, month_ago)}
    assert then == {piece.status: (piece.accounts_month_ago, piece.arr_month_ago) for piece in summary.health
                    if piece.accounts_month_ago}

    for sql, movers in ((became, summary.became_at_risk), (left, summary.left_at_risk)):
        assert [(row[0], row[4]) for row in _run(path, sql)] == [(mover.account_id, mover.was) for mover in movers]
    assert (summary.left_at_risk if week_of_history else summary.became_at_risk), "the scenario has its movers"


def test_a_refusal_in_plain_text_counts_as_refused() -> None:
    def answer(text: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=text)])

    assert peer.refused(answer("Error: Only SELECT queries are allowed for read_query"))
    assert peer.refused(answer("Database error: no such column: arr"))
    assert not peer.refused(answer("[{'status': 'at_risk', 'accounts': 3}]"))
