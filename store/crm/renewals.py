"""Renewals: the pipeline view and the stage rules, including what closing a renewal does."""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Date, Integer, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.auth.users import principal_for, principal_of, user_id_of
from store.crm import revenue
from store.crm.accounts import renewal_window
from store.crm.cents import cents, money
from store.crm.pagination import check_page_size, decode_cursor, filters_fingerprint, next_cursor, page_and_total
from store.database.engine import core_rows, rows, transaction
from store.database.models import Account, Renewal, User
from store.database.one_hop import OneHopUnits, on_session
from store.database.versioning import check_version, flush_guarded
from store.errors import Conflict, InvalidInput, NotFound
from store.runs.account_marks import mark_accounts, mark_accounts_on
from store.schemas import RenewalOut, RenewalPage, RenewalTotal
from store.vocabulary import CLOSED_RENEWAL_STAGES, HEALTH_STATUSES, OPEN_RENEWAL_STAGES, RENEWAL_STAGES

# A won renewal rolls the contract forward by one term.
CONTRACT_TERM_MONTHS = 12
RENEWAL_SORTS = {
    "due_date": (Renewal.due_date.asc(), Renewal.id),
    "amount_desc": (Renewal.forecast_amount.desc(), Renewal.id),
    "health_score": (Account.health_score.asc().nulls_last(), Renewal.due_date, Renewal.id),
}


# The renewals list reads these columns, not whole Renewal and Account entities (loading instances cost
# more than the query); a row of them reads as both the renewal and the account in renewal_out.
LINE_COLUMNS = (Renewal.id, Renewal.account_id, Account.name, User.email.label("owner"), Renewal.due_date,
                Renewal.stage, Renewal.currency, Renewal.target_amount, Renewal.forecast_amount, Renewal.final_amount,
                Renewal.booking_type, Account.arr, Account.health_status, Account.health_score, Renewal.version)


def renewal_out(renewal: Any, account: Any, owner_email: str, today: date) -> RenewalOut:
    """A renewal's answer, from a Renewal and its Account, or rows of their columns."""
    return RenewalOut(
        id=renewal.id, account_id=renewal.account_id, account_name=account.name, owner=owner_email,
        due_date=renewal.due_date, days_to_due=(renewal.due_date - today).days, stage=renewal.stage,
        currency=renewal.currency, target_amount=renewal.target_amount, forecast_amount=renewal.forecast_amount,
        final_amount=renewal.final_amount, booking_type=renewal.booking_type, arr=account.arr,
        health_status=account.health_status, health_score=account.health_score, version=renewal.version,
    )


async def list_renewals(session: AsyncSession, **question: Any) -> RenewalPage:
    """renewals_due in a session the caller holds."""
    return await on_session(session, renewals_due, **question)


def renewals_due(
    db: Connection, *, principal: Principal, today: date, owner: str | None = None,
    within_days: int | None = 90, include_overdue: bool = True, stages: tuple[str, ...] = (),
    health_statuses: tuple[str, ...] = (), sort: str = "due_date", limit: int = 25, cursor: str | None = None,
    offset: int | None = None,
) -> RenewalPage:
    """Renewals due within a window (open ones by default), with the account's health beside each; a read
    unit (see store.database.one_hop). `offset` stands in for the cursor where pages are numbered (the
    web desk).

    Raises:
        InvalidInput: a filter, the sort or the cursor is malformed. NotFound: the owner is unknown.
    """
    check_page_size(limit)
    if sort not in RENEWAL_SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(RENEWAL_SORTS)}; got {sort!r}")
    values = _bound_filters(db, principal=principal, today=today, owner=owner, within_days=within_days,
                            include_overdue=include_overdue, stages=stages, health_statuses=health_statuses)
    fingerprint = filters_fingerprint({"owner": values.get("owner_id"), "within": within_days,
                                       "overdue": include_overdue, "stages": stages, "health": health_statuses,
                                       "sort": sort})
    offset = decode_cursor(cursor, fingerprint) if offset is None else offset
    bound = frozenset(values)
    page, total = page_and_total(db, _renewals_view(bound, sort), _renewals_count(bound), values,
                                 offset=offset, limit=limit)
    items = [renewal_out(row, row, row.owner, today) for row in page]
    return RenewalPage(items=items, total=total, next_cursor=next_cursor(offset, len(items), total, fingerprint))


def renewal_totals(
    db: Connection, *, principal: Principal, today: date, owner: str | None = None,
    within_days: int | None = 90, include_overdue: bool = True, stages: tuple[str, ...] = (),
    health_statuses: tuple[str, ...] = (),
) -> list[RenewalTotal]:
    """What the renewals renewals_due lists add up to, per currency: how many, their targets and their
    forecasts (a read unit). Summed in cents, exact on every backend."""
    values = _bound_filters(db, principal=principal, today=today, owner=owner, within_days=within_days,
                            include_overdue=include_overdue, stages=stages, health_statuses=health_statuses)
    statement = select(Renewal.currency, func.count(), func.sum(cents(Renewal.target_amount)),
                       func.sum(cents(Renewal.forecast_amount))).join(Account, Account.id == Renewal.account_id) \
        .where(*_renewal_conditions(frozenset(values))).group_by(Renewal.currency).order_by(Renewal.currency)
    return [RenewalTotal(currency=currency, renewals=int(count), target=money(target), forecast=money(forecast))
            for currency, count, target, forecast in db.execute(statement, values)]


def _bound_filters(db: Connection, *, principal: Principal, today: date, owner: str | None, within_days: int | None,
                   include_overdue: bool, stages: tuple[str, ...], health_statuses: tuple[str, ...]) -> dict[str, Any]:
    """The values a renewals question binds, each validated; their names say which filters apply."""
    for stage in stages:
        validation.one_of(stage, RENEWAL_STAGES, "stage")
    for status in health_statuses:
        validation.one_of(status, HEALTH_STATUSES, "health_status")
    values: dict[str, Any] = {"stages": list(stages or OPEN_RENEWAL_STAGES)}
    owner_id = user_id_of(db, ref=owner, principal=principal)
    if owner_id is not None:
        values["owner_id"] = owner_id
    if within_days is not None:
        start, values["due_by"] = renewal_window(today, within_days)
        if not include_overdue:
            values["due_from"] = start
    if health_statuses:
        values["statuses"] = list(health_statuses)
    return values


@functools.cache
def _renewals_view(filters: frozenset[str], sort: str) -> Select[Any]:
    """The renewals list for one set of filters (by the names of the values bound) and sort, built once:
    building and fingerprinting a statement cost more than running it."""
    return select(*LINE_COLUMNS).join(Account, Account.id == Renewal.account_id) \
        .join(User, User.id == Renewal.owner_id).where(*_renewal_conditions(filters)) \
        .order_by(*RENEWAL_SORTS[sort])


@functools.cache
def _renewals_count(filters: frozenset[str]) -> Select[Any]:
    """How many renewals a set of filters matches. Every renewal has an account and an owner, so the
    list's joins drop none: only a filter on the account's health needs the accounts at all."""
    statement = select(func.count()).select_from(Renewal)
    if "statuses" in filters:
        statement = statement.join(Account, Account.id == Renewal.account_id)
    return statement.where(*_renewal_conditions(filters))


@functools.cache
def _renewal_conditions(filters: frozenset[str]) -> tuple[ColumnElement[bool], ...]:
    conditions = {
        "owner_id": Renewal.owner_id == bindparam("owner_id", type_=Integer),
        "due_by": Renewal.due_date <= bindparam("due_by", type_=Date),
        "due_from": Renewal.due_date >= bindparam("due_from", type_=Date),
        "statuses": Account.health_status.in_(bindparam("statuses", expanding=True)),
    }
    return (Renewal.stage.in_(bindparam("stages", expanding=True)),) + \
        tuple(condition for name, condition in conditions.items() if name in filters)


# What update_renewal reads of a renewal: its answer's columns, its notes, and who owns its account.
RENEWAL_FOR_UPDATE = select(*LINE_COLUMNS, Renewal.notes, Account.owner_id.label("account_owner_id")) \
    .join(Account, Account.id == Renewal.account_id).join(User, User.id == Renewal.owner_id) \
    .where(Renewal.id == bindparam("renewal_id", type_=Integer))
# Moving a renewal within the pipeline writes one row, guarded by the version it was read at; the columns
# it sets are the ones its values name (see core_write).
MOVE_RENEWAL = update(Renewal.__table__).where(Renewal.id == bindparam("renewal_id", type_=Integer),
                                               Renewal.version == bindparam("read_version", type_=Integer))


async def update_renewal(
    session: AsyncSession, *, principal: Principal, now: datetime, renewal_id: int, expected_version: int,
    stage: str | None = None, forecast_amount: Decimal | str | None = None,
    final_amount: Decimal | str | None = None, notes: str | None = None,
) -> RenewalOut:
    """Move a renewal's stage or forecast. Closing it won sets the account's ARR and opens the next
    term's renewal; closing it lost marks the account churned. Closed renewals are final.

    Raises:
        NotFound, Forbidden, InvalidInput, Conflict (stale version, or the renewal is already closed).
    """
    if not closes(stage):
        moved = await on_session(session, move_renewal, principal=principal, now=now, renewal_id=renewal_id,
                                 expected_version=expected_version, stage=stage, forecast_amount=forecast_amount,
                                 final_amount=final_amount, notes=notes)
        # A copy the caller loaded before holds the new values; a tool call's own session has loaded nothing
        # (working out the key alone cost a thirtieth of the call).
        loaded = session.sync_session.identity_map
        held = loaded.get(identity_key(Renewal, moved.id)) if len(loaded) else None
        if held is not None:
            await session.refresh(held)
        return moved
    assert stage is not None
    line = _checked_line((await core_rows(session, RENEWAL_FOR_UPDATE, {"renewal_id": renewal_id})).first(),
                         principal=principal, renewal_id=renewal_id, expected_version=expected_version)
    changes = _plain_changes(forecast_amount, notes)
    _check_final_amount(stage, final_amount)
    final = validation.money(final_amount, "final_amount") if final_amount is not None else None
    return await _close(session, principal=principal, now=now, renewal_id=line.id, read_version=line.version,
                        stage=stage, changes=changes, final=final)


async def change_renewal(units: OneHopUnits, *, email: str | None, now: datetime, renewal_id: int,
                         expected_version: int, stage: str | None = None,
                         forecast_amount: Decimal | str | None = None, final_amount: Decimal | str | None = None,
                         notes: str | None = None) -> RenewalOut:
    """update_renewal as the user with `email` asks it, in its own transaction: a move within the pipeline
    as one write unit (who asks with it), a close through the ORM.

    Raises:
        as update_renewal, and Forbidden for an unknown or inactive user.
    """
    if not closes(stage):
        return await units.write(lambda db: move_renewal(
            db, principal=principal_of(db, email=email), now=now, renewal_id=renewal_id,
            expected_version=expected_version, stage=stage, forecast_amount=forecast_amount,
            final_amount=final_amount, notes=notes))
    async with transaction(units.write_sessions) as session:
        return await update_renewal(session, principal=await principal_for(session, email=email), now=now,
                                    renewal_id=renewal_id, expected_version=expected_version, stage=stage,
                                    forecast_amount=forecast_amount, final_amount=final_amount, notes=notes)


def closes(stage: str | None) -> bool:
    """Whether an update to `stage` closes the renewal (through the ORM, with what closing does) rather than
    moving it within the pipeline (one unit: `move_renewal`)."""
    return stage in CLOSED_RENEWAL_STAGES


def move_renewal(
    db: Connection, *, principal: Principal, now: datetime, renewal_id: int, expected_version: int,
    stage: str | None = None, forecast_amount: Decimal | str | None = None,
    final_amount: Decimal | str | None = None, notes: str | None = None,
) -> RenewalOut:
    """update_renewal for a stage that does not close the renewal: one guarded UPDATE, its audit row and the
    account's mark for re-assessment, as Core statements in a write unit (see store.database.one_hop; the
    ORM's load and unit of work for the same row cost most of a tool call).

    Raises:
        as update_renewal.
    """
    if stage is None and forecast_amount is None and final_amount is None and notes is None:
        raise InvalidInput("nothing to update: pass stage, forecast_amount, final_amount or notes")
    line = _checked_line(rows(db, RENEWAL_FOR_UPDATE, {"renewal_id": renewal_id}).first(),
                         principal=principal, renewal_id=renewal_id, expected_version=expected_version)
    changes = _plain_changes(forecast_amount, notes)
    changes["stage"] = validation.one_of(stage, RENEWAL_STAGES, "stage") if stage is not None else line.stage
    _check_final_amount(changes["stage"], final_amount)
    version = line.version + 1
    moved = db.execute(MOVE_RENEWAL, {**changes, "updated_at": now, "version": version, "renewal_id": line.id,
                                      "read_version": line.version}).rowcount
    if moved != 1:
        raise Conflict(f"renewal {line.id} was changed by someone else just now; re-read it and retry")
    audit.write_on(db, principal=principal, action="renewal.update", entity="renewal", entity_id=line.id, at=now,
                   before={key: getattr(line, key) for key in changes}, after=changes)
    if changes["stage"] != line.stage or "forecast_amount" in changes:
        mark_accounts_on(db, [line.account_id], now=now, reason="renewal.update")
    moved_line = line._replace(**{key: value for key, value in changes.items() if key in line._fields},
                               version=version)
    return renewal_out(moved_line, moved_line, moved_line.owner, now.date())


def _check_final_amount(stage: str, final_amount: Decimal | str | None) -> None:
    if final_amount is not None and stage != "closed_won":
        raise InvalidInput("final_amount is set only when closing a renewal: pass stage closed_won with it")
    if stage == "closed_won" and final_amount is None:
        raise InvalidInput("closing a renewal won needs final_amount: the amount actually booked")


def _checked_line(line: Any, *, principal: Principal, renewal_id: int, expected_version: int) -> Any:
    """The renewal as read for an update, once the caller may change it, the version is the one they read
    and it is still open."""
    if line is None:
        raise NotFound(f"no renewal with id {renewal_id}; find ids with list_renewals or get_account")
    require_account_writer(principal, owner_id=line.account_owner_id, account_name=line.name)
    check_version("renewal", line.id, line.version, expected_version)
    if line.stage in CLOSED_RENEWAL_STAGES:
        raise Conflict(f"renewal {line.id} is {line.stage}; closed renewals are final")
    return line


def _plain_changes(forecast_amount: Decimal | str | None, notes: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if forecast_amount is not None:
        changes["forecast_amount"] = validation.money(forecast_amount, "forecast_amount")
    if notes is not None:
        changes["notes"] = validation.text(notes, "notes", max_length=4000, required=False) or None
    return changes


async def _close(session: AsyncSession, *, principal: Principal, now: datetime, renewal_id: int, read_version: int,
                 stage: str, changes: dict[str, Any], final: Decimal | None) -> RenewalOut:
    """Close a renewal won or lost, with what that does to the account and the next term, through the
    ORM; update_renewal has checked the caller, the version (as read at `read_version`) and the arguments."""
    renewal = await session.get(Renewal, renewal_id)
    if renewal is None or renewal.version != read_version:  # changed since it was checked (PostgreSQL)
        raise Conflict(f"renewal {renewal_id} was changed by someone else just now; re-read it and retry")
    account = await session.get(Account, renewal.account_id)
    assert account is not None
    before_renewal, before_account = audit.snapshot(renewal), audit.snapshot(account)
    arr_before, currency_before = revenue.contracted_arr(account), account.currency
    for key, value in changes.items():
        setattr(renewal, key, value)
    next_renewal: Renewal | None = None
    if stage == "closed_won":
        assert final is not None
        next_renewal = await _close_won(session, renewal=renewal, account=account, final=final, now=now)
    else:
        _close_lost(renewal=renewal, account=account, today=now.date())
    renewal.stage = stage
    renewal.updated_at = now
    revenue.record_change(session, account=account, before=arr_before, before_currency=currency_before,
                          on=now.date(), now=now, source="renewal.close", renewal_id=renewal.id, always=True)
    await flush_guarded(session, "renewal", renewal_id)
    audit.record(session, principal=principal, action="renewal.update", entity="renewal", entity_id=renewal.id,
                 at=now, before=before_renewal, after=audit.snapshot(renewal))
    if next_renewal is not None:
        audit.record(session, principal=principal, action="renewal.create", entity="renewal",
                     entity_id=next_renewal.id, at=now, after=audit.snapshot(next_renewal))
    if audit.snapshot(account) != before_account:
        audit.record(session, principal=principal, action="account.update", entity="account",
                     entity_id=account.id, at=now, before=before_account, after=audit.snapshot(account))
    await mark_accounts(session, [account.id], now=now, reason="renewal.update")
    owner = await session.scalar(select(User.email).where(User.id == renewal.owner_id)) or ""
    return renewal_out(renewal, account, owner, now.date())


async def _close_won(session: AsyncSession, *, renewal: Renewal, account: Account, final: Decimal,
                     now: datetime) -> Renewal | None:
    renewal.final_amount = final
    renewal.closed_on = now.date()
    renewal.booking_type = ("expansion" if final > renewal.target_amount
                            else "contraction" if final < renewal.target_amount else "flat")
    account.arr = final
    account.updated_at = now
    next_due = add_months(renewal.due_date, CONTRACT_TERM_MONTHS)
    account.renewal_date = next_due
    exists = await session.scalar(select(Renewal.id).where(Renewal.account_id == account.id,
                                                           Renewal.due_date == next_due))
    if exists is not None:
        return None
    next_renewal = Renewal(account_id=account.id, owner_id=account.owner_id, due_date=next_due,
                           currency=renewal.currency, target_amount=final, forecast_amount=final,
                           stage="upcoming", created_at=now, updated_at=now)
    session.add(next_renewal)
    return next_renewal


def _close_lost(*, renewal: Renewal, account: Account, today: date) -> None:
    renewal.final_amount = Decimal("0.00")
    renewal.closed_on = today
    renewal.booking_type = "churn"
    account.status = "churned"
    account.churned_on = today


def add_months(start: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 → Feb 28)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, min(start.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")
