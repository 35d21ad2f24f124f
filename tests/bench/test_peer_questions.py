"""The peer's questions (bench/peer.py) are ones the peer accepts and that ask what csdesk answers.

mcp-server-sqlite runs a `read_query` only if it begins with SELECT, and it reports a refusal as
ordinary text rather than as a tool error: a question it refused once passed for a fast answer.
Here every question passes the peer's rule, runs on csdesk's schema, and the retention and health
figures it returns equal csdesk's own portfolio summary on the same file.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

from mcp.types import CallToolResult, TextContent

from agents.cycle import run_cycle
from bench import peer
from bench.portfolio import MANAGER, NOW, TODAY
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.demo_portfolio import seed_demo_portfolio
from store.portfolio import portfolio_summary
from store.portfolio_schemas import PortfolioSummary
from store.users import principal_for

ACCOUNTS = 120


async def _portfolio(settings: Settings) -> PortfolioSummary:
    """A seeded, assessed portfolio on the bench's day (the peer's SQL has that day's dates written
    in), and csdesk's summary of it for the manager."""
    async with open_app(settings, clock=FixedClock(NOW)) as app:
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=ACCOUNTS)
        await run_cycle(app.agent_deps())
        async with app.read_sessions() as session, session.begin():
            manager = await principal_for(session, email=MANAGER)
            return await portfolio_summary(session, principal=manager, now=NOW)


def _run(path: str, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def _cents(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


async def test_every_peer_question_is_accepted_and_runs(sqlite_settings: Settings) -> None:
    await _portfolio(sqlite_settings)
    for tool, steps in peer.questions(account_id=1, renewal_id=1).items():
        for peer_tool, sql in steps:
            is_select = sql.strip().upper().startswith("SELECT")
            assert is_select == (peer_tool == "read_query"), f"{tool}: the peer would refuse {sql[:60]}"
            rows = _run(str(sqlite_settings.db_path), sql)
            if peer_tool == "read_query" and tool != "get_account":
                assert rows, f"{tool}: {sql[:60]} found nothing on a seeded portfolio"


async def test_the_peers_summary_figures_equal_csdesks(sqlite_settings: Settings) -> None:
    summary = await _portfolio(sqlite_settings)
    assert summary.currency == "USD" and summary.retention.period_start == date.fromisoformat(peer.PERIOD_START)
    health, _pipeline, retention = (sql for _, sql in peer.questions(1, 1)["portfolio_summary"])

    starting, kept, ending, cohort, churned = _run(str(sqlite_settings.db_path), retention)[0]
    figures = summary.retention
    assert (cohort, churned) == (figures.starting_accounts, figures.logos_churned)
    assert (_cents(starting), _cents(ending)) == (figures.starting_arr, figures.ending_arr)
    assert (_cents(kept) * 100 / _cents(starting)).quantize(Decimal("0.01")) == figures.grr_pct

    now = {status: (count, _cents(arr)) for status, count, arr in _run(str(sqlite_settings.db_path), health)}
    ours = {piece.status: (piece.accounts, piece.arr) for piece in summary.health if piece.accounts}
    assert now == ours


def test_a_refusal_in_plain_text_counts_as_refused() -> None:
    def answer(text: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=text)])

    assert peer.refused(answer("Error: Only SELECT queries are allowed for read_query"))
    assert peer.refused(answer("Database error: no such column: arr"))
    assert not peer.refused(answer("[{'status': 'at_risk', 'accounts': 3}]"))
