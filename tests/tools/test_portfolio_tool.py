from tests.conftest import ClientFactory, Db
from tests.store.test_portfolio import _fixture
from tests.tools.helpers import call_error, call_ok


async def test_a_manager_gets_the_portfolio_summary_in_one_call(connect: ClientFactory, main_db: Db) -> None:
    await _fixture(main_db)
    async with connect("morgan") as client:
        summary = await call_ok(client, "portfolio_summary")
        book = await call_ok(client, "portfolio_summary", owner="ben@example.com", period_start="2026-01-01")
    assert (summary["owner"], summary["currency"], summary["as_of"]) == ("all", "USD", "2026-11-23")
    retention = summary["retention"]
    assert (retention["grr_pct"], retention["nrr_pct"], retention["logo_churn_pct"]) == ("74.22", "83.18", "33.33")
    assert [row["name"] for row in summary["became_at_risk"]] == ["Alpha"]
    assert [row["quarter"] for row in summary["pipeline"]] == ["overdue", "2026-Q4", "2027-Q1", "2027-Q2",
                                                                "2027-Q3"]
    assert book["owner"] == "ben@example.com" and book["retention"]["period_start"] == "2026-01-01"
    assert book["retention"]["starting_accounts"] == 1


async def test_portfolio_summary_explains_a_bad_period(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        message = await call_error(client, "portfolio_summary", period_start="2026-06-01", period_end="2026-05-01")
        unknown = await call_error(client, "portfolio_summary", owner="nobody@example.com")
    assert "period_start (2026-06-01) must be on or before period_end (2026-05-01)" in message
    assert "no user with email nobody@example.com" in unknown


async def test_a_manager_reads_the_health_backtest_and_a_csm_may_not(connect: ClientFactory, main_db: Db) -> None:
    from tests.store.test_backtest import _history

    await _history(main_db)
    async with connect("morgan") as client:
        summary = await call_ok(client, "portfolio_summary", health_backtest=True)
        plain = await call_ok(client, "portfolio_summary")
    async with connect("ana") as client:
        refused = await call_error(client, "portfolio_summary", health_backtest=True)
    overall = summary["health_backtest"]["evaluations"][0]
    assert (overall["scope"], overall["accounts"], overall["churned"], overall["auc"]) == ("all", 4, 2, 0.75)
    assert plain["health_backtest"] is None
    assert "role 'csm' cannot read the health model's backtest" in refused
    assert summary["confidence"]["unassessed"] >= 4
