"""The portfolio summary a Head of CS runs the function by, computed in the database.

Amounts are summed as integer cents so that totals are exact on every backend (SQLite has no
decimal type). The formulas are in the README's "Portfolio figures" section.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, Select, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from store.errors import InvalidInput
from store.models import Account, Assessment, Renewal, RevenueEvent, User
from store.portfolio_schemas import PortfolioSummary, QuarterPipeline, RetentionFigures, RiskMover, StatusSlice
from store.principals import Principal
from store.renewals import add_months
from store.users import user_id_filter
from store.vocabulary import HEALTH_STATUSES, OPEN_RENEWAL_STAGES

MONTH_AGO_DAYS = 30
WEEK_AGO_DAYS = 7
MOVERS_SHOWN = 10
MAX_QUARTERS = 8
UNASSESSED = "unassessed"


def cents(column: ColumnElement) -> ColumnElement:
    return cast(func.round(column * 100), BigInteger)


def money(total_cents: int | None) -> Decimal:
    return (Decimal(total_cents or 0) / 100).quantize(Decimal("0.01"))


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
    today = now.date()
    period_start, period_end = retention_period(today, period_start, period_end)
    if not 1 <= quarters <= MAX_QUARTERS:
        raise InvalidInput(f"quarters must be between 1 and {MAX_QUARTERS}; got {quarters}")
    owner_id = await user_id_filter(session, ref=owner, principal=principal)
    chosen, others = await _currencies(session, owner_id, currency)
    notes = [f"Accounts billed in {', '.join(others)} are left out; ask again with currency set to see them."] \
        if others else []
    health, unassessed_then = await _health(session, owner_id, chosen, now)
    if unassessed_then:
        notes.append(f"{unassessed_then} account(s) had no assessment {MONTH_AGO_DAYS} days ago; counted as "
                     f"{UNASSESSED}.")
    became, left, more = await _risk_movers(session, owner_id, now)
    if more:
        notes.append(f"Risk movers: the {MOVERS_SHOWN} largest by ARR of each list are shown; "
                     f"{more} more moved. Use list_accounts with health_status at_risk for all.")
    owner_label = "all" if owner_id is None else await session.scalar(select(User.email).where(User.id == owner_id))
    return PortfolioSummary(
        as_of=today, owner=owner_label or "all", currency=chosen, health=health, became_at_risk=became,
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


async def _currencies(session: AsyncSession, owner_id: int | None, asked: str | None) -> tuple[str, list[str]]:
    """The currency to report in (by default the one with the most ARR) and the others present."""
    rows = await session.execute(_scoped(
        select(Account.currency, func.sum(cents(Account.arr))).where(Account.status == "active")
        .group_by(Account.currency).order_by(func.sum(cents(Account.arr)).desc(), Account.currency), owner_id))
    present = [code for code, _ in rows]
    if asked is not None:
        code = asked.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise InvalidInput(f"currency must be a three-letter code like USD; got {asked!r}")
        return code, [other for other in present if other != code]
    chosen = present[0] if present else "USD"
    return chosen, present[1:]


def arr_as_of(day: date, currency: str, *, inclusive: bool = True):
    """Each account's contracted ARR in cents at the end of `day` (or its start), from revenue events."""
    latest_first = (RevenueEvent.occurred_on.desc(), RevenueEvent.id.desc())
    on_or_before = RevenueEvent.occurred_on <= day if inclusive else RevenueEvent.occurred_on < day
    ranked = select(RevenueEvent.account_id, RevenueEvent.currency, RevenueEvent.arr_after,
                    func.row_number().over(partition_by=RevenueEvent.account_id, order_by=latest_first)
                    .label("rank")).where(on_or_before).subquery()
    in_currency = case((ranked.c.currency == currency, cents(ranked.c.arr_after)), else_=0)
    return select(ranked.c.account_id, in_currency.label("cents")).where(ranked.c.rank == 1).subquery()


def status_as_of(moment: datetime):
    """Each account's health status in its latest assessment at or before `moment`."""
    ranked = select(Assessment.account_id, Assessment.status,
                    func.row_number().over(partition_by=Assessment.account_id,
                                           order_by=(Assessment.created_at.desc(), Assessment.id.desc()))
                    .label("rank")).where(Assessment.created_at <= moment).subquery()
    return select(ranked.c.account_id, ranked.c.status).where(ranked.c.rank == 1).subquery()


async def _health(session: AsyncSession, owner_id: int | None, currency: str,
                  now: datetime) -> tuple[list[StatusSlice], int]:
    label = func.coalesce(Account.health_status, UNASSESSED)
    current = {status: (count, total) for status, count, total in await session.execute(_scoped(
        select(label, func.count(), func.sum(cents(Account.arr)))
        .where(Account.status == "active", Account.currency == currency).group_by(label), owner_id))}
    then = now - timedelta(days=MONTH_AGO_DAYS)
    arr_then, status_then = arr_as_of(then.date(), currency), status_as_of(then)
    label_then = func.coalesce(status_then.c.status, UNASSESSED)
    past = {status: (count, total) for status, count, total in await session.execute(_scoped(
        select(label_then, func.count(), func.sum(arr_then.c.cents))
        .join(Account, Account.id == arr_then.c.account_id)
        .outerjoin(status_then, status_then.c.account_id == arr_then.c.account_id)
        .where(arr_then.c.cents > 0).group_by(label_then), owner_id))}
    slices = [StatusSlice(status=status, accounts=current.get(status, (0, 0))[0],
                          arr=money(current.get(status, (0, 0))[1]), accounts_month_ago=past.get(status, (0, 0))[0],
                          arr_month_ago=money(past.get(status, (0, 0))[1]))
              for status in (*HEALTH_STATUSES, UNASSESSED)]
    return slices, past.get(UNASSESSED, (0, 0))[0]


async def _risk_movers(session: AsyncSession, owner_id: int | None,
                       now: datetime) -> tuple[list[RiskMover], list[RiskMover], int]:
    """Accounts that became, or stopped being, at_risk in the last seven days (churn counts as stopping)."""
    week_ago = now - timedelta(days=WEEK_AGO_DAYS)
    before = status_as_of(week_ago)
    was = func.coalesce(before.c.status, UNASSESSED)
    base = _scoped(select(Account, User.email, was).join(User, User.id == Account.owner_id)
                   .outerjoin(before, before.c.account_id == Account.id), owner_id)
    became_filter = and_(Account.status == "active", Account.health_status == "at_risk", was != "at_risk")
    left_filter = and_(was == "at_risk", or_(
        and_(Account.status == "active", Account.health_status != "at_risk"),
        and_(Account.status == "churned", Account.churned_on > week_ago.date())))
    lists, hidden = [], 0
    for condition in (became_filter, left_filter):
        total = await session.scalar(select(func.count()).select_from(base.where(condition).subquery())) or 0
        rows = await session.execute(base.where(condition).order_by(Account.arr.desc(), Account.id)
                                     .limit(MOVERS_SHOWN))
        lists.append([RiskMover(account_id=account.id, name=account.name, owner=email, arr=account.arr,
                                currency=account.currency,
                                status="churned" if account.status == "churned" else account.health_status or "",
                                was=previous) for account, email, previous in rows])
        hidden += max(0, total - MOVERS_SHOWN)
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
    opening, closing = arr_as_of(start, currency, inclusive=False), arr_as_of(end, currency)
    begin, finish = opening.c.cents, func.coalesce(closing.c.cents, 0)
    cohort = await session.execute(_scoped(
        select(func.count(), func.sum(begin), func.sum(finish),
               func.sum(case((finish < begin, finish), else_=begin)),
               func.sum(case((finish > begin, finish - begin), else_=0)),
               func.sum(case((and_(finish > 0, finish < begin), begin - finish), else_=0)),
               func.sum(case((finish == 0, begin), else_=0)),
               func.sum(case((finish == 0, 1), else_=0)))
        .join(Account, Account.id == opening.c.account_id)
        .outerjoin(closing, closing.c.account_id == opening.c.account_id)
        .where(begin > 0), owner_id))
    accounts, starting, ending, kept, expansion, contraction, churned, logos_lost = \
        (int(value or 0) for value in cohort.one())
    newcomers = await session.execute(_scoped(
        select(func.count(), func.sum(closing.c.cents))
        .join(Account, Account.id == closing.c.account_id)
        .outerjoin(opening, opening.c.account_id == closing.c.account_id)
        .where(closing.c.cents > 0, func.coalesce(opening.c.cents, 0) == 0), owner_id))
    new_logos, new_arr = (int(value or 0) for value in newcomers.one())
    return RetentionFigures(
        period_start=start, period_end=end, starting_accounts=accounts, starting_arr=money(starting),
        expansion=money(expansion), contraction=money(contraction), churned_arr=money(churned),
        ending_arr=money(ending), grr_pct=percent(kept, starting), nrr_pct=percent(ending, starting),
        logos_churned=logos_lost, logo_churn_pct=percent(logos_lost, accounts), new_logos=new_logos,
        new_logo_arr=money(new_arr),
    )
