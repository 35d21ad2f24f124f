"""The portfolio summary a Head of CS runs the function by, computed in the database.

Amounts are summed as integer cents so that totals are exact on every backend (SQLite has no
decimal type). The formulas are in the README's "Portfolio figures" section.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from store.auth.principals import Principal
from store.auth.users import user_id_filter
from store.crm.cents import cents, money
from store.crm.portfolio_schemas import PortfolioSummary, QuarterPipeline, RetentionFigures, RiskMover, StatusSlice
from store.crm.renewals import add_months
from store.database.models import Account, Assessment, Renewal, RevenueEvent, User
from store.errors import InvalidInput
from store.vocabulary import HEALTH_STATUSES, OPEN_RENEWAL_STAGES

MONTH_AGO_DAYS = 30
WEEK_AGO_DAYS = 7
MOVERS_SHOWN = 10
MAX_QUARTERS = 8
UNASSESSED = "unassessed"


def percent(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01")) if whole else None


async def portfolio_summary(
    session: AsyncSession, *, principal: Principal, now: datetime, owner: str | None = None,
    currency: str | None = None, period_start: date | None = None, period_end: date | None = None,
    quarters: int = 4,
) -> PortfolioSummary:
    """Health now and a month ago, this week's risk movers, the pipeline by quarter, and GRR/NRR.

    Raises:
        InvalidInput: a bad period, currency or quarter count. NotFound: the owner is unknown.
    """
    owner_id = await user_id_filter(session, ref=owner, principal=principal)
    return await summary_of(session, owner_id=owner_id, now=now, currency=currency, period_start=period_start,
                            period_end=period_end, quarters=quarters)


async def summary_of(
    session: AsyncSession, *, owner_id: int | None, now: datetime, currency: str | None = None,
    period_start: date | None = None, period_end: date | None = None, quarters: int = 4,
) -> PortfolioSummary:
    """portfolio_summary of one owner's book (an id) or, with None, the whole portfolio."""
    today = now.date()
    period_start, period_end = retention_period(today, period_start, period_end)
    if not 1 <= quarters <= MAX_QUARTERS:
        raise InvalidInput(f"quarters must be between 1 and {MAX_QUARTERS}; got {quarters}")
    health_now = await _health_now(session, owner_id)
    chosen, others = _currencies(health_now, currency)
    notes = [f"Accounts billed in {', '.join(others)} are left out; ask again with currency set to see them."] \
        if others else []
    health, unassessed_then = await _health(session, owner_id, chosen, health_now.get(chosen, {}), now)
    if unassessed_then:
        notes.append(f"{unassessed_then} account(s) had no assessment {MONTH_AGO_DAYS} days ago; counted as "
                     f"{UNASSESSED}.")
    became, left, more = await _risk_movers(session, owner_id, now)
    if more:
        notes.append(f"Risk movers: the {MOVERS_SHOWN} largest by ARR of each list are shown; "
                     f"{more} more moved. Use list_accounts with health_status at_risk for all.")
    confidence = {level: 0 for level in ("high", "medium", "low", UNASSESSED)}
    for level, count in await session.execute(_scoped(
            select(func.coalesce(Account.health_confidence, UNASSESSED), func.count())
            .where(Account.status == "active").group_by(Account.health_confidence), owner_id)):
        confidence[level] = confidence.get(level, 0) + int(count)
    owner_label = "all" if owner_id is None else await session.scalar(select(User.email).where(User.id == owner_id))
    return PortfolioSummary(
        as_of=today, owner=owner_label or "all", currency=chosen, health=health, confidence=confidence,
        became_at_risk=became,
        left_at_risk=left, pipeline=await _pipeline(session, owner_id, chosen, today, quarters),
        retention=await retention(session, owner_id=owner_id, currency=chosen, start=period_start,
                                  end=period_end),
        notes=notes,
    )


def retention_period(today: date, start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for; by default the twelve months ending today."""
    end = end or today
    start = start or add_months(end, -12) + timedelta(days=1)
    if end > today:
        raise InvalidInput(f"period_end ({end}) is in the future; retention is measured up to today ({today})")
    if start > end:
        raise InvalidInput(f"period_start ({start}) must be on or before period_end ({end})")
    return start, end


def _scoped(statement: Select, owner_id: int | None) -> Select:
    return statement if owner_id is None else statement.where(Account.owner_id == owner_id)


HealthNow = dict[str, dict[str, tuple[int, int]]]


async def _health_now(session: AsyncSession, owner_id: int | None) -> HealthNow:
    """Active accounts now, per currency and health status: (accounts, ARR in cents). One pass over the
    accounts serves both the choice of currency and the health figures."""
    label = func.coalesce(Account.health_status, UNASSESSED)
    by_currency: HealthNow = {}
    for code, status, count, total in await session.execute(_scoped(
            select(Account.currency, label, func.count(), func.sum(cents(Account.arr)))
            .where(Account.status == "active").group_by(Account.currency, label), owner_id)):
        by_currency.setdefault(code, {})[status] = (int(count), int(total or 0))
    return by_currency


def _currencies(health_now: HealthNow, asked: str | None) -> tuple[str, list[str]]:
    """The currency to report in (by default the one with the most ARR) and the others present."""
    arr_by_currency = {code: sum(total for _, total in statuses.values()) for code, statuses in health_now.items()}
    present = sorted(arr_by_currency, key=lambda code: (-arr_by_currency[code], code))
    if asked is not None:
        code = asked.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise InvalidInput(f"currency must be a three-letter code like USD; got {asked!r}")
        return code, [other for other in present if other != code]
    chosen = present[0] if present else "USD"
    return chosen, present[1:]


def arr_on(day: date, currency: str, *, inclusive: bool = True) -> ColumnElement:
    """The account's contracted ARR in cents at the end of `day` (or its start): its latest revenue event
    by then, found through the (account, day) index, 0 in another currency or before its first event."""
    by_then = RevenueEvent.occurred_on <= day if inclusive else RevenueEvent.occurred_on < day
    latest = select(case((RevenueEvent.currency == currency, cents(RevenueEvent.arr_after)), else_=0)) \
        .where(RevenueEvent.account_id == Account.id, by_then) \
        .order_by(RevenueEvent.occurred_on.desc(), RevenueEvent.id.desc()).limit(1).scalar_subquery()
    return func.coalesce(latest, 0)


def status_on(moment: datetime) -> ColumnElement:
    """The account's health status in its latest assessment at or before `moment`, else unassessed."""
    latest = select(Assessment.status).where(Assessment.account_id == Account.id, Assessment.created_at <= moment) \
        .order_by(Assessment.created_at.desc(), Assessment.id.desc()).limit(1).scalar_subquery()
    return func.coalesce(latest, UNASSESSED)


async def _health(session: AsyncSession, owner_id: int | None, currency: str, current: dict[str, tuple[int, int]],
                  now: datetime) -> tuple[list[StatusSlice], int]:
    then = now - timedelta(days=MONTH_AGO_DAYS)
    accounts_then = _scoped(select(arr_on(then.date(), currency).label("cents"), status_on(then).label("status"))
                            .select_from(Account), owner_id).cte("accounts_then").prefix_with("MATERIALIZED")
    past = {status: (count, total) for status, count, total in await session.execute(
        select(accounts_then.c.status, func.count(), func.sum(accounts_then.c.cents))
        .where(accounts_then.c.cents > 0).group_by(accounts_then.c.status))}
    slices = [StatusSlice(status=status, accounts=current.get(status, (0, 0))[0],
                          arr=money(current.get(status, (0, 0))[1]), accounts_month_ago=past.get(status, (0, 0))[0],
                          arr_month_ago=money(past.get(status, (0, 0))[1]))
              for status in (*HEALTH_STATUSES, UNASSESSED)]
    return slices, past.get(UNASSESSED, (0, 0))[0]


async def _risk_movers(session: AsyncSession, owner_id: int | None,
                       now: datetime) -> tuple[list[RiskMover], list[RiskMover], int]:
    """Accounts that became, or stopped being, at_risk in the last seven days (churn counts as stopping).

    Only accounts at risk now can have become so; only accounts assessed or churned since a week ago
    can have stopped (without a new assessment, their status is what it was).
    """
    week_ago = now - timedelta(days=WEEK_AGO_DAYS)
    assessed_since = select(Assessment.id).where(Assessment.account_id == Account.id,
                                                 Assessment.created_at > week_ago).exists()
    became_candidates = and_(Account.status == "active", Account.health_status == "at_risk")
    left_candidates = or_(
        and_(Account.status == "active", Account.health_status != "at_risk", assessed_since),
        and_(Account.status == "churned", Account.churned_on > week_ago.date()))
    lists, hidden = [], 0
    for name, candidates, moved in (("became", became_candidates, lambda was: was != "at_risk"),
                                    ("left", left_candidates, lambda was: was == "at_risk")):
        # Columns only, the week-ago status looked up once per candidate, and only the largest rows
        # leave the database, with the count of the rest riding along.
        rows = _scoped(select(Account.id, Account.name, User.email.label("owner"), Account.arr, Account.currency,
                              Account.status, Account.health_status, status_on(week_ago).label("was"))
                       .join(User, User.id == Account.owner_id).where(candidates), owner_id) \
            .cte(f"{name}_candidates").prefix_with("MATERIALIZED")
        shown = list(await session.execute(
            select(rows, func.count().over()).where(moved(rows.c.was))
            .order_by(rows.c.arr.desc(), rows.c.id).limit(MOVERS_SHOWN)))
        lists.append([RiskMover(account_id=row.id, name=row.name, owner=row.owner, arr=row.arr,
                                currency=row.currency,
                                status="churned" if row.status == "churned" else row.health_status or "",
                                was=row.was) for row in shown])
        hidden += max(0, int(shown[0][-1]) - MOVERS_SHOWN) if shown else 0
    return lists[0], lists[1], hidden


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


async def _pipeline(session: AsyncSession, owner_id: int | None, currency: str, today: date,
                    quarters: int) -> list[QuarterPipeline]:
    """Open renewals by the calendar quarter they fall due in, from this quarter on, overdue ones first."""
    this_quarter_start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    horizon = add_months(this_quarter_start, 3 * quarters)
    at_risk = Account.health_status == "at_risk"
    rows = await session.execute(_scoped(
        select(Renewal.due_date, func.count(), func.sum(cents(Renewal.target_amount)),
               func.sum(cents(Renewal.forecast_amount)),
               func.sum(case((at_risk, cents(Renewal.target_amount)), else_=0)),
               func.sum(case((at_risk, 1), else_=0)))
        .join(Account, Account.id == Renewal.account_id)
        .where(Renewal.stage.in_(OPEN_RENEWAL_STAGES), Account.status == "active", Renewal.currency == currency,
               Renewal.due_date < horizon)
        .group_by(Renewal.due_date), owner_id))
    labels = ["overdue"] + [quarter_of(add_months(this_quarter_start, 3 * step)) for step in range(quarters)]
    totals = {label: [0, 0, 0, 0, 0] for label in labels}
    for due_date, count, due, forecast, risk, risk_count in rows:
        bucket = totals["overdue" if due_date < today else quarter_of(due_date)]
        for index, value in enumerate((count, due, forecast, risk, risk_count)):
            bucket[index] += int(value or 0)
    return [QuarterPipeline(quarter=label, renewals=count, due=money(due), forecast=money(forecast),
                            at_risk=money(risk), at_risk_renewals=risk_count)
            for label, (count, due, forecast, risk, risk_count) in totals.items()]


async def retention(session: AsyncSession, *, owner_id: int | None, currency: str, start: date,
                    end: date) -> RetentionFigures:
    """GRR, NRR and logo churn of the accounts that were paying when the period began."""
    return (await _retention_rows(session, owner_id=owner_id, currency=currency, start=start, end=end))[0][1]


async def retention_by_segment(session: AsyncSession, *, owner_id: int | None, currency: str, start: date,
                               end: date) -> dict[str, RetentionFigures]:
    """The same figures for each segment's accounts (churn by segment), in one pass."""
    figures = await _retention_rows(session, owner_id=owner_id, currency=currency, start=start, end=end,
                                    by_segment=True)
    return {str(segment): one for segment, one in figures}


def month_ends(today: date, months: int = 12) -> list[tuple[date, date]]:
    """The twelve-month periods ending at each of the last `months - 1` month ends, oldest first; with the
    period ending today (retention_period's default) they make the monthly trend."""
    this_month = today.replace(day=1)
    # The last day of each of the `months - 1` months before this one: Oct 31 back to Dec 31 on Nov 23.
    ends = [add_months(this_month, 1 - back) - timedelta(days=1) for back in range(months - 1, 0, -1)]
    return [(add_months(end, -12) + timedelta(days=1), end) for end in ends]


async def _retention_rows(session: AsyncSession, *, owner_id: int | None, currency: str, start: date, end: date,
                          by_segment: bool = False) -> list[tuple[str | None, RetentionFigures]]:
    per_account = _scoped(select(Account.segment, arr_on(start, currency, inclusive=False).label("begin"),
                                 arr_on(end, currency).label("finish")).select_from(Account), owner_id) \
        .cte("per_account").prefix_with("MATERIALIZED")  # each account's lookups run once, not once per use
    begin, finish = per_account.c.begin, per_account.c.finish
    in_cohort, newcomer = begin > 0, and_(begin == 0, finish > 0)

    def total(value: ColumnElement, where: ColumnElement) -> ColumnElement:
        return func.sum(case((where, value), else_=0))

    # One pass over the accounts: the starting cohort's figures and the new logos together.
    statement = select(
        total(1, in_cohort), total(begin, in_cohort), total(finish, in_cohort),
        total(case((finish < begin, finish), else_=begin), in_cohort),
        total(finish - begin, and_(in_cohort, finish > begin)),
        total(begin - finish, and_(in_cohort, finish > 0, finish < begin)),
        total(begin, and_(in_cohort, finish == 0)), total(1, and_(in_cohort, finish == 0)),
        total(1, newcomer), total(finish, newcomer))
    if by_segment:
        statement = statement.add_columns(per_account.c.segment).group_by(per_account.c.segment) \
            .order_by(per_account.c.segment)
    answers = []
    for row in await session.execute(statement):
        accounts, starting, ending, kept, expansion, contraction, churned, logos_lost, new_logos, new_arr = \
            (int(value or 0) for value in row[:10])
        answers.append((row[10] if by_segment else None, RetentionFigures(
            period_start=start, period_end=end, starting_accounts=accounts, starting_arr=money(starting),
            expansion=money(expansion), contraction=money(contraction), churned_arr=money(churned),
            ending_arr=money(ending), grr_pct=percent(kept, starting), nrr_pct=percent(ending, starting),
            logos_churned=logos_lost, logo_churn_pct=percent(logos_lost, accounts), new_logos=new_logos,
            new_logo_arr=money(new_arr),
        )))
    return answers
