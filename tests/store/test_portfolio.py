"""Portfolio figures on a hand-computed fixture: every amount below was worked out by hand.

The fixture, as of 2026-11-23 (default retention period 2025-11-24 … 2026-11-23), USD unless noted:

  Alpha    ana  since 2024-06-01  100,000.00; renewal closed won 2026-05-20 at 120,000.00 (expansion)
  Bravo    ana  since 2025-01-15   50,000.00; renewal closed won 2026-01-10 at 42,500.50 (contraction)
  Charlie  ana  since 2025-03-01   30,000.00; renewal closed lost 2026-02-20 (churn)
  Delta    ana  since 2025-09-01   20,000.00; raised to 25,000.25 on 2026-04-10; churned 2026-10-01
  Echo     ana  since 2026-03-01   40,000.00 (new logo)
  Foxtrot  ana  since 2025-11-24   10,000.00 (new logo: it starts on the period's first day)
  Golf     ben  since 2025-11-23   15,000.00; renewal closed won flat 2026-11-20
  Hotel    ana  since 2024-01-01   80,000.00 EUR
  India    ben  since 2024-11-01   60,000.00; renewal closed lost 2025-10-25 (before the period)
  Juliet   ana  since 2026-01-10    5,000.00; churned 2026-11-20
  Kilo     ana  since 2025-11-01    8,000.00; renewal due 2026-11-01 still open (overdue)

Starting accounts (paying before 2025-11-24): Alpha, Bravo, Charlie, Delta, Golf, Kilo.
  starting ARR 100,000 + 50,000 + 30,000 + 20,000 + 15,000 + 8,000        = 223,000.00
  ending ARR   120,000 + 42,500.50 + 0 + 0 + 15,000 + 8,000               = 185,500.50
  kept (min of start and end per account) 100,000 + 42,500.50 + 15,000 + 8,000 = 165,500.50
  GRR 165,500.50 / 223,000 = 74.2155 %  → 74.22;  NRR 185,500.50 / 223,000 = 83.1840 % → 83.18
  logo churn 2 / 6 = 33.33 %; expansion 20,000.00; contraction 7,499.50; churned 50,000.00
  (Delta's raise inside the period does not count: it started at 20,000 and ended at 0.)
  new logos: Echo and Foxtrot, 50,000.00 (Juliet joined and left inside the period).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from store.crm.accounts import update_account
from store.crm.portfolio import portfolio_summary
from store.crm.portfolio_schemas import PortfolioSummary
from store.crm.renewals import update_renewal
from store.database.models import Account, Assessment, Renewal, RevenueEvent
from store.errors import InvalidInput
from store.health.assessments import save_assessments
from tests.conftest import NOW, Db
from tests.factories import make_account

D = Decimal


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


async def _close(db: Db, account_id: int, day: date, stage: str, final: str | None = None) -> None:
    async with db.write() as session:
        renewal = await session.scalar(select(Renewal).where(Renewal.account_id == account_id,
                                                             Renewal.stage == "upcoming"))
        await update_renewal(session, principal=db.principals["morgan"], now=at(day), renewal_id=renewal.id,
                             expected_version=renewal.version, stage=stage, final_amount=final)


async def _change(db: Db, account_id: int, day: date, **changes: object) -> None:
    async with db.write() as session:
        version = (await session.get(Account, account_id)).version
        await update_account(session, principal=db.principals["morgan"], now=at(day), account_id=account_id,
                             expected_version=version, changes=changes)


async def _assess(db: Db, account_id: int, day: date, status: str) -> None:
    row = Assessment(account_id=account_id, created_at=at(day), method="rules", status=status, score=50,
                     rules_score=50, trend="stable", dimensions={}, summary="fixture", drivers=[], next_actions=[],
                     signals=[], input_digest=f"{account_id}-{day}")
    async with db.write() as session:
        await save_assessments(session, [row], principal="assessment-agent")


async def _fixture(db: Db) -> dict[str, int]:
    ids = {}

    async def account(name: str, owner: str, arr: str, start: date, renewal: date | None, **fields: object) -> int:
        made = await make_account(db, owner=owner, name=name, arr=arr, contract_start=start, renewal_date=renewal,
                                  **fields)
        ids[name] = made.id
        return made.id

    alpha = await account("Alpha", "ana", "100000", date(2024, 6, 1), date(2026, 6, 1))
    await _close(db, alpha, date(2026, 5, 20), "closed_won", "120000")
    bravo = await account("Bravo", "ana", "50000", date(2025, 1, 15), date(2026, 1, 15))
    await _close(db, bravo, date(2026, 1, 10), "closed_won", "42500.50")
    async with db.write() as session:
        renewal = await session.scalar(select(Renewal).where(Renewal.account_id == bravo,
                                                             Renewal.stage == "upcoming"))
        await update_renewal(session, principal=db.principals["ana"], now=NOW, renewal_id=renewal.id,
                             expected_version=renewal.version, forecast_amount="40000")
    charlie = await account("Charlie", "ana", "30000", date(2025, 3, 1), date(2026, 3, 1))
    await _close(db, charlie, date(2026, 2, 20), "closed_lost")
    delta = await account("Delta", "ana", "20000", date(2025, 9, 1), date(2026, 9, 1))
    await _change(db, delta, date(2026, 4, 10), arr="25000.25")
    await _change(db, delta, date(2026, 10, 1), status="churned")
    echo = await account("Echo", "ana", "40000", date(2026, 3, 1), date(2027, 3, 1))
    await account("Foxtrot", "ana", "10000", date(2025, 11, 24), date(2026, 11, 24))
    golf = await account("Golf", "ben", "15000", date(2025, 11, 23), date(2026, 11, 23))
    await _close(db, golf, date(2026, 11, 20), "closed_won", "15000")
    await account("Hotel", "ana", "80000", date(2024, 1, 1), date(2027, 1, 1), currency="EUR")
    india = await account("India", "ben", "60000", date(2024, 11, 1), date(2025, 11, 1))
    await _close(db, india, date(2025, 10, 25), "closed_lost")
    juliet = await account("Juliet", "ana", "5000", date(2026, 1, 10), date(2027, 1, 10))
    await account("Kilo", "ana", "8000", date(2025, 11, 1), date(2026, 11, 1))

    # Health history. A month ago is 2026-10-24 noon; a week ago 2026-11-16 noon.
    await _assess(db, alpha, date(2026, 10, 1), "neutral")
    await _assess(db, alpha, date(2026, 11, 20), "at_risk")
    await _assess(db, bravo, date(2026, 10, 20), "at_risk")
    await _assess(db, bravo, date(2026, 11, 10), "at_risk")
    await _assess(db, bravo, date(2026, 11, 21), "actively_engaged")
    await _assess(db, golf, date(2026, 11, 1), "at_risk")
    await _assess(db, echo, date(2026, 11, 22), "needs_attention")
    await _assess(db, delta, date(2026, 9, 15), "at_risk")
    await _assess(db, juliet, date(2026, 11, 12), "at_risk")
    await _change(db, juliet, date(2026, 11, 20), status="churned")
    return ids


async def _summary(db: Db, user: str = "morgan", **arguments: object) -> PortfolioSummary:
    async with db.read() as session:
        return await portfolio_summary(session, principal=db.principals[user], now=NOW, **arguments)


async def test_retention_figures_match_the_hand_computed_fixture(db: Db) -> None:
    await _fixture(db)
    retention = (await _summary(db)).retention
    assert retention.model_dump() == {
        "period_start": date(2025, 11, 24), "period_end": date(2026, 11, 23),
        "starting_accounts": 6, "starting_arr": D("223000.00"), "expansion": D("20000.00"),
        "contraction": D("7499.50"), "churned_arr": D("50000.00"), "ending_arr": D("185500.50"),
        "grr_pct": D("74.22"), "nrr_pct": D("83.18"), "logos_churned": 2, "logo_churn_pct": D("33.33"),
        "new_logos": 2, "new_logo_arr": D("50000.00"),
    }


async def test_one_csms_book_counts_only_their_accounts(db: Db) -> None:
    await _fixture(db)
    ana = await _summary(db, "ana", owner="me")
    # Alpha, Bravo, Charlie, Delta, Kilo: 208,000 → 170,500.50, kept 150,500.50.
    assert ana.owner == "ana@example.com"
    assert (ana.retention.starting_arr, ana.retention.ending_arr) == (D("208000.00"), D("170500.50"))
    assert (ana.retention.grr_pct, ana.retention.nrr_pct, ana.retention.logo_churn_pct) == \
        (D("72.36"), D("81.97"), D("40.00"))
    ben = await _summary(db, "ana", owner="ben@example.com")
    # Golf only: India churned before the period began.
    assert (ben.retention.starting_accounts, ben.retention.grr_pct, ben.retention.nrr_pct) == (1, D("100.00"),
                                                                                               D("100.00"))


async def test_health_distribution_now_and_a_month_ago(db: Db) -> None:
    await _fixture(db)
    health = {row.status: (row.accounts, row.arr, row.accounts_month_ago, row.arr_month_ago)
              for row in (await _summary(db)).health}
    assert health == {
        "strongly_thriving": (0, D("0.00"), 0, D("0.00")),
        "actively_engaged": (1, D("42500.50"), 0, D("0.00")),
        "neutral": (0, D("0.00"), 1, D("120000.00")),
        "needs_attention": (1, D("40000.00"), 0, D("0.00")),
        "at_risk": (2, D("135000.00"), 1, D("42500.50")),
        # Now: Foxtrot and Kilo. A month ago: Echo, Foxtrot, Golf, Juliet, Kilo (not yet assessed).
        "unassessed": (2, D("18000.00"), 5, D("78000.00")),
    }


async def test_risk_movers_this_week_include_a_churned_account_and_skip_earlier_churn(db: Db) -> None:
    await _fixture(db)
    summary = await _summary(db)
    assert [(row.name, row.was, row.status) for row in summary.became_at_risk] == [("Alpha", "neutral", "at_risk")]
    assert [(row.name, row.was, row.status, row.arr) for row in summary.left_at_risk] == [
        ("Bravo", "at_risk", "actively_engaged", D("42500.50")), ("Juliet", "at_risk", "churned", D("5000.00"))]


async def test_renewal_pipeline_by_quarter(db: Db) -> None:
    await _fixture(db)
    pipeline = [(row.quarter, row.renewals, row.due, row.forecast, row.at_risk, row.at_risk_renewals)
                for row in (await _summary(db)).pipeline]
    assert pipeline == [
        ("overdue", 1, D("8000.00"), D("8000.00"), D("0.00"), 0),
        ("2026-Q4", 1, D("10000.00"), D("10000.00"), D("0.00"), 0),
        ("2027-Q1", 2, D("82500.50"), D("80000.00"), D("0.00"), 0),
        ("2027-Q2", 1, D("120000.00"), D("120000.00"), D("120000.00"), 1),
        ("2027-Q3", 0, D("0.00"), D("0.00"), D("0.00"), 0),
    ]


async def test_other_currencies_are_reported_apart_and_named(db: Db) -> None:
    await _fixture(db)
    usd = await _summary(db)
    assert usd.currency == "USD" and any("EUR" in note for note in usd.notes)
    eur = await _summary(db, currency="eur")
    assert eur.currency == "EUR"
    assert (eur.retention.starting_arr, eur.retention.grr_pct) == (D("80000.00"), D("100.00"))
    assert [(row.quarter, row.due) for row in eur.pipeline if row.renewals] == [("2027-Q1", D("80000.00"))]


async def test_every_arr_change_leaves_a_revenue_event(db: Db) -> None:
    ids = await _fixture(db)
    async with db.read() as session:
        delta = [(row.occurred_on, row.kind, row.arr_before, row.arr_after) for row in await session.scalars(
            select(RevenueEvent).where(RevenueEvent.account_id == ids["Delta"]).order_by(RevenueEvent.id))]
        golf = [(row.kind, row.renewal_id is not None) for row in await session.scalars(
            select(RevenueEvent).where(RevenueEvent.account_id == ids["Golf"]).order_by(RevenueEvent.id))]
    assert delta == [(date(2025, 9, 1), "new", D("0.00"), D("20000.00")),
                     (date(2026, 4, 10), "expansion", D("20000.00"), D("25000.25")),
                     (date(2026, 10, 1), "churn", D("25000.25"), D("0.00"))]
    assert golf == [("new", False), ("renewal", True)]


async def test_a_currency_change_ends_one_amount_and_starts_another(db: Db) -> None:
    account = await make_account(db, arr="1000", contract_start=date(2026, 1, 1))
    await _change(db, account.id, date(2026, 6, 1), currency="EUR", arr="900")
    await _change(db, account.id, date(2026, 7, 1), status="churned")
    await _change(db, account.id, date(2026, 8, 1), status="active")
    async with db.read() as session:
        events = [(row.currency, row.kind, row.arr_after) for row in await session.scalars(
            select(RevenueEvent).where(RevenueEvent.account_id == account.id).order_by(RevenueEvent.id))]
    assert events == [("USD", "new", D("1000.00")), ("USD", "churn", D("0.00")), ("EUR", "new", D("900.00")),
                      ("EUR", "churn", D("0.00")), ("EUR", "reactivation", D("900.00"))]


@pytest.mark.parametrize(("arguments", "message"), [
    ({"period_end": date(2026, 12, 1)}, "period_end (2026-12-01) is in the future"),
    ({"period_start": date(2026, 6, 1), "period_end": date(2026, 5, 1)}, "must be on or before period_end"),
    ({"currency": "dollars"}, "three-letter code"),
    ({"quarters": 0}, "quarters must be between 1 and 8"),
])
async def test_bad_arguments_are_explained(db: Db, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        await _summary(db, **arguments)
