"""Accounts: the retention view, creation and updates, with ownership and version checks."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Date, Integer, Select, String, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer, require_role
from store.auth.users import resolve_assignee, user_id_of
from store.crm import revenue
from store.crm.pagination import check_page_size, decode_cursor, filters_fingerprint, next_cursor, page_and_total
from store.database.engine import in_fixed
from store.database.models import Account, PlanMilestone, PlanOutcome, Renewal, SuccessPlan, User
from store.database.one_hop import on_session
from store.database.versioning import check_fields, check_version, flush_guarded
from store.errors import Conflict, InvalidInput, NotFound
from store.schemas import AccountDetail, AccountPage, AccountRow
from store.vocabulary import (
    HEALTH_STATUSES,
    LIFECYCLE_STAGES,
    ONBOARDING_STATUSES,
    OPEN_RENEWAL_STAGES,
    PORTFOLIO_WRITER_ROLES,
    SEGMENTS,
)

ACCOUNT_SORTS = {
    "arr_desc": (Account.arr.desc(), Account.id),
    "arr_asc": (Account.arr.asc(), Account.id),
    "renewal_date": (Account.renewal_date.asc().nulls_last(), Account.arr.desc(), Account.id),
    "health_score": (Account.health_score.asc().nulls_last(), Account.arr.desc(), Account.id),
    # Least data first: where a CSM's first job is to get the account's data in.
    "confidence": (case({"low": 0, "medium": 1, "high": 2}, value=Account.health_confidence, else_=3),
                   Account.arr.desc(), Account.id),
    "name": (Account.name_lower.asc(), Account.id),
}
CONFIDENCES = ("high", "medium", "low")
ACCOUNT_CREATORS = frozenset({"csm", "manager", "admin"})


@dataclass(frozen=True)
class AccountFilters:
    """The retention view's filters; every field is optional."""

    owner: str | None = None
    health_statuses: tuple[str, ...] = ()
    confidences: tuple[str, ...] = ()
    min_arr: Decimal | None = None
    max_arr: Decimal | None = None
    renewal_within_days: int | None = None
    segment: str | None = None
    lifecycle_stage: str | None = None
    query: str | None = None
    # Only accounts whose success plan needs attention: an outcome at risk or missed, a milestone overdue.
    plan_attention: bool = False
    include_churned: bool = False
    sort: str = "arr_desc"
    extra: dict[str, Any] = field(default_factory=dict)


def renewal_window(today: date, days: int) -> tuple[date, date]:
    """"Renewing within N days" means a renewal date from today through today + N, inclusive."""
    if not 0 <= days <= 3660:
        raise InvalidInput(f"renewal_within_days must be between 0 and 3660; got {days}")
    return today, date.fromordinal(today.toordinal() + days)


# The retention view reads these columns, not whole ORM entities: loading instances cost more than the
# indexed query itself. `_common_fields` reads a row of them as it reads an Account.
ROW_COLUMNS = (Account.id, Account.name, Account.segment, Account.arr, Account.currency, Account.renewal_date,
               Account.health_status, Account.health_score, Account.health_confidence, Account.health_trend,
               Account.churn_risk_reason,
               Account.churned_on, Account.version)


def account_row(account: Any, owner_email: str, today: date) -> AccountRow:
    """A retention-view line from an Account or a row of ROW_COLUMNS."""
    return AccountRow(**_common_fields(account, owner_email, today))


def account_detail(account: Any, owner_email: str, today: date) -> AccountDetail:
    """An account's details, from an Account or a row of the same columns."""
    return AccountDetail(
        **_common_fields(account, owner_email, today),
        status=account.status,
        lifecycle_stage=account.lifecycle_stage,
        domain=account.domain,
        external_id=account.external_id,
        seats=account.seats,
        contract_start=account.contract_start,
        onboarding_status=account.onboarding_status,
        assessed_at=account.assessed_at,
    )


def _common_fields(account: Any, owner_email: str, today: date) -> dict[str, Any]:
    days = (account.renewal_date - today).days if account.renewal_date else None
    return {
        "id": account.id, "name": account.name, "owner": owner_email, "segment": account.segment,
        "arr": account.arr, "currency": account.currency,
        "renewal_date": account.renewal_date, "days_to_renewal": days, "health_status": account.health_status,
        "health_score": account.health_score, "health_confidence": account.health_confidence,
        "health_trend": account.health_trend,
        "churn_risk_reason": account.churn_risk_reason, "churned_on": account.churned_on,
        "version": account.version,
    }


async def list_accounts(
    session: AsyncSession, *, principal: Principal, filters: AccountFilters, today: date,
    limit: int = 25, cursor: str | None = None,
) -> AccountPage:
    """retention_view in a session the caller holds."""
    return await on_session(session, retention_view, principal=principal, filters=filters, today=today,
                            limit=limit, cursor=cursor)


def retention_view(
    db: Connection, *, principal: Principal, filters: AccountFilters, today: date,
    limit: int = 25, cursor: str | None = None, offset: int | None = None,
) -> AccountPage:
    """The retention view: accounts with health and ARR side by side, filtered, sorted, paginated; a read
    unit (see store.database.one_hop). `offset` stands in for the cursor where pages are numbered (the
    web desk).

    Raises:
        InvalidInput: a filter, the sort or the cursor is malformed. NotFound: the owner is unknown.
    """
    check_page_size(limit)
    if filters.sort not in ACCOUNT_SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(ACCOUNT_SORTS)}; got {filters.sort!r}")
    parameters = _bound_filters(db, principal=principal, filters=filters, today=today)
    fingerprint = filters_fingerprint({**filters.__dict__, "who": principal.user_id})
    offset = decode_cursor(cursor, fingerprint) if offset is None else offset
    bound = frozenset(parameters)
    page, total = page_and_total(db, _retention_view(bound, filters.include_churned, filters.sort),
                                 _retention_count(bound, filters.include_churned), parameters,
                                 offset=offset, limit=limit)
    items = [account_row(row, row.owner_email, today) for row in page]
    return AccountPage(items=items, total=total, next_cursor=next_cursor(offset, len(items), total, fingerprint))


def _bound_filters(db: Connection, *, principal: Principal, filters: AccountFilters, today: date) -> dict[str, Any]:
    """The values the question's filters bind, each validated; their names say which filters apply."""
    values: dict[str, Any] = {}
    owner_id = user_id_of(db, ref=filters.owner, principal=principal)
    if owner_id is not None:
        values["owner_id"] = owner_id
    if filters.health_statuses:
        values["statuses"] = [validation.one_of(status, HEALTH_STATUSES, "health_status")
                              for status in filters.health_statuses]
    if filters.confidences:
        values["confidences"] = [validation.one_of(level, CONFIDENCES, "confidence") for level in filters.confidences]
    if filters.min_arr is not None:
        values["min_arr"] = validation.money(filters.min_arr, "min_arr")
    if filters.max_arr is not None:
        values["max_arr"] = validation.money(filters.max_arr, "max_arr")
    if filters.renewal_within_days is not None:
        values["window_start"], values["window_end"] = renewal_window(today, filters.renewal_within_days)
    if filters.segment:
        values["segment"] = validation.one_of(filters.segment, SEGMENTS, "segment")
    if filters.lifecycle_stage:
        values["stage"] = validation.one_of(filters.lifecycle_stage, LIFECYCLE_STAGES, "lifecycle_stage")
    if filters.plan_attention:
        values["plan_today"] = today
    if filters.query and filters.query.strip():
        values["pattern"] = "%" + _escape_like(filters.query.strip().lower()) + "%"
    return values


@functools.cache
def _retention_view(bound: frozenset[str], include_churned: bool, sort: str) -> Select[Any]:
    """The statement for one shape of question (the names of the values bound, churned or not, the sort),
    built once: building a statement and fingerprinting it for SQLAlchemy's compiled cache cost more than
    running it. Values are bound per call (see _bound_filters)."""
    return select(*ROW_COLUMNS, User.email.label("owner_email")).join(User, User.id == Account.owner_id) \
        .where(*_retention_conditions(bound, include_churned)).order_by(*ACCOUNT_SORTS[sort])


@functools.cache
def _retention_count(bound: frozenset[str], include_churned: bool) -> Select[Any]:
    """How many accounts a shape of question matches. Counted over accounts alone: every account has an
    owner, so the view's join to users drops none, and without it the count reads only an index."""
    return select(func.count()).select_from(Account).where(*_retention_conditions(bound, include_churned))


@functools.cache
def _retention_conditions(bound: frozenset[str], include_churned: bool) -> tuple[ColumnElement[bool], ...]:
    conditions = {
        "owner_id": Account.owner_id == bindparam("owner_id", type_=Integer),
        "statuses": Account.health_status.in_(bindparam("statuses", expanding=True)),
        "confidences": Account.health_confidence.in_(bindparam("confidences", expanding=True)),
        "min_arr": Account.arr >= bindparam("min_arr", type_=Account.arr.type),
        "max_arr": Account.arr <= bindparam("max_arr", type_=Account.arr.type),
        "window_start": Account.renewal_date.between(bindparam("window_start", type_=Date),
                                                     bindparam("window_end", type_=Date)),
        "segment": Account.segment == bindparam("segment", type_=String),
        "stage": Account.lifecycle_stage == bindparam("stage", type_=String),
        "pattern": Account.name_lower.like(bindparam("pattern", type_=String), escape="\\")
        | Account.domain.like(bindparam("pattern", type_=String), escape="\\"),
        "plan_today": _plan_needs_attention(),
    }
    active = () if include_churned else (Account.status == "active",)
    return active + tuple(condition for name, condition in conditions.items() if name in bound)


def _plan_needs_attention() -> ColumnElement[bool]:
    """The account's active plan has an outcome at risk or missed, or a milestone past due and not done."""
    active = select(SuccessPlan.id).where(SuccessPlan.account_id == Account.id, SuccessPlan.status == "active")
    troubled = select(PlanOutcome.id).where(PlanOutcome.account_id == Account.id,
                                            in_fixed(PlanOutcome.status, ("at_risk", "missed")),
                                            PlanOutcome.plan_id.in_(active))
    late = select(PlanMilestone.id).where(PlanMilestone.account_id == Account.id, PlanMilestone.completed_on.is_(None),
                                          PlanMilestone.due_on < bindparam("plan_today", type_=Date),
                                          PlanMilestone.plan_id.in_(active))
    return troubled.exists() | late.exists()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def load_account(session: AsyncSession, account_id: int) -> Account:
    """The account row, or NotFound with a hint."""
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account with id {account_id}; find ids with list_accounts")
    return account


async def owner_email(session: AsyncSession, account: Account) -> str:
    return (await session.scalar(select(User.email).where(User.id == account.owner_id))) or ""


async def create_account(
    session: AsyncSession, *, principal: Principal, now: datetime, name: str, owner: str = "me",
    segment: str, lifecycle_stage: str = "onboarding", arr: Decimal | int | str, currency: str = "USD",
    seats: int = 0, domain: str | None = None, contract_start: date | None = None,
    renewal_date: date | None = None, onboarding_status: str = "not_started", external_id: str | None = None,
) -> AccountDetail:
    """Create an account; with a renewal date, its first renewal (target = ARR) is opened too.

    Raises:
        InvalidInput, Forbidden, Conflict (the name or domain is taken).
    """
    require_role(principal, ACCOUNT_CREATORS, "create accounts")
    values = {
        "name": validation.text(name, "name", max_length=200),
        "segment": validation.one_of(segment, SEGMENTS, "segment"),
        "lifecycle_stage": validation.one_of(lifecycle_stage, LIFECYCLE_STAGES, "lifecycle_stage"),
        "arr": validation.money(arr, "arr"),
        "currency": validation.currency(currency),
        "seats": validation.non_negative(seats, "seats"),
        "domain": validation.domain(domain) if domain else None,
        "external_id": validation.external_id(external_id),
        "contract_start": contract_start,
        "renewal_date": renewal_date,
        "onboarding_status": validation.one_of(onboarding_status, ONBOARDING_STATUSES, "onboarding_status"),
    }
    _check_dates(values["contract_start"], values["renewal_date"])
    owner_user = await resolve_assignee(session, ref=owner, principal=principal, field="owner")
    if principal.role == "csm" and owner_user.id != principal.user_id:
        raise InvalidInput("a csm creates accounts for themselves; leave owner as \"me\" or ask a manager")
    await _check_unique(session, name=values["name"], domain=values["domain"], external_id=values["external_id"],
                        exclude_id=None)
    account = Account(**values, name_lower=values["name"].lower(), owner_id=owner_user.id, status="active",
                      created_at=now, updated_at=now)
    session.add(account)
    await session.flush()
    audit.record(session, principal=principal, action="account.create", entity="account", entity_id=account.id,
                 at=now, after=audit.snapshot(account))
    opening = revenue.opening_event(account, on=account.contract_start or now.date(), now=now,
                                    source="account.create")
    if opening is not None:
        session.add(opening)
    if account.renewal_date is not None:
        renewal = Renewal(account_id=account.id, owner_id=owner_user.id, due_date=account.renewal_date,
                          currency=account.currency, target_amount=account.arr, forecast_amount=account.arr,
                          stage="upcoming", created_at=now, updated_at=now)
        session.add(renewal)
        await session.flush()
        audit.record(session, principal=principal, action="renewal.create", entity="renewal",
                     entity_id=renewal.id, at=now, after=audit.snapshot(renewal))
    return account_detail(account, owner_user.email, now.date())


def _check_dates(contract_start: date | None, renewal_date: date | None) -> None:
    if contract_start and renewal_date and renewal_date <= contract_start:
        raise InvalidInput(f"renewal_date ({renewal_date}) must be after contract_start ({contract_start})")


async def _check_unique(session: AsyncSession, *, name: str | None, domain: str | None, exclude_id: int | None,
                        external_id: str | None = None) -> None:
    for column, value, label in ((Account.name_lower, name.lower() if name else None, "name"),
                                 (Account.domain, domain, "domain"), (Account.external_id, external_id, "external_id")):
        if value is None:
            continue
        statement = select(Account.id).where(column == value)
        if exclude_id is not None:
            statement = statement.where(Account.id != exclude_id)
        existing = await session.scalar(statement)
        if existing is not None:
            raise Conflict(f"account {existing} already has {label} {value!r}; {label}s are unique")


UPDATABLE_FIELDS = ("name", "domain", "external_id", "owner", "segment", "lifecycle_stage", "arr", "currency", "seats",
                    "contract_start", "renewal_date", "onboarding_status", "churn_risk_reason", "status")


async def update_account(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, expected_version: int,
    changes: dict[str, Any],
) -> AccountDetail:
    """Change the given fields of an account; only the keys present in `changes` are touched.

    Raises:
        NotFound, Forbidden, InvalidInput, Conflict (stale expected_version, or a unique name/domain).
    """
    check_fields(changes, UPDATABLE_FIELDS)
    account = await load_account(session, account_id)
    require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    check_version("account", account.id, account.version, expected_version)
    before = audit.snapshot(account)
    arr_before, currency_before, was_churned = revenue.contracted_arr(account), account.currency, account.status
    await _apply_account_changes(session, principal=principal, account=account, changes=changes, now=now)
    account.updated_at = now
    revenue.record_change(session, account=account, before=arr_before, before_currency=currency_before,
                          on=now.date(), now=now, source="account.update",
                          reactivated=was_churned == "churned" and account.status == "active")
    await flush_guarded(session, "account", account_id)
    audit.record(session, principal=principal, action="account.update", entity="account", entity_id=account.id,
                 at=now, before=before, after=audit.snapshot(account))
    return account_detail(account, await owner_email(session, account), now.date())


async def _apply_account_changes(
    session: AsyncSession, *, principal: Principal, account: Account, changes: dict[str, Any], now: datetime
) -> None:
    if "name" in changes:
        account.name = validation.text(changes["name"], "name", max_length=200)
        account.name_lower = account.name.lower()
    if "domain" in changes:
        account.domain = validation.domain(changes["domain"]) if changes["domain"] else None
    if "external_id" in changes:
        account.external_id = validation.external_id(changes["external_id"])
    await _check_unique(session, name=account.name, domain=account.domain, external_id=account.external_id,
                        exclude_id=account.id)
    if "owner" in changes:
        if principal.role not in PORTFOLIO_WRITER_ROLES:
            raise InvalidInput("only a manager or an admin can reassign an account's owner")
        account.owner_id = (await resolve_assignee(session, ref=changes["owner"], principal=principal,
                                                   field="owner")).id
    for key, allowed in (("segment", SEGMENTS), ("lifecycle_stage", LIFECYCLE_STAGES),
                         ("onboarding_status", ONBOARDING_STATUSES)):
        if key in changes:
            setattr(account, key, validation.one_of(changes[key], allowed, key))
    if "arr" in changes:
        account.arr = validation.money(changes["arr"], "arr")
    if "currency" in changes:
        account.currency = validation.currency(changes["currency"])
    if "seats" in changes:
        account.seats = validation.non_negative(changes["seats"], "seats")
    if "contract_start" in changes:
        account.contract_start = changes["contract_start"]
    if "churn_risk_reason" in changes:
        reason = changes["churn_risk_reason"]
        account.churn_risk_reason = validation.text(reason, "churn_risk_reason", max_length=2000) if reason else None
    if "status" in changes:
        _change_status(account, validation.one_of(changes["status"], ("active", "churned"), "status"), now.date())
    if "renewal_date" in changes:
        await _move_renewal_date(session, principal=principal, account=account,
                                 renewal_date=changes["renewal_date"], now=now)
    _check_dates(account.contract_start, account.renewal_date)


def _change_status(account: Account, status: str, today: date) -> None:
    if status == account.status:
        return
    account.status = status
    account.churned_on = today if status == "churned" else None


async def _move_renewal_date(session: AsyncSession, *, principal: Principal, account: Account,
                             renewal_date: date | None, now: datetime) -> None:
    """The account's renewal date and its open renewal's due date move together."""
    account.renewal_date = renewal_date
    if renewal_date is None:
        return
    open_renewal = await session.scalar(
        select(Renewal).where(Renewal.account_id == account.id, Renewal.stage.in_(OPEN_RENEWAL_STAGES))
        .order_by(Renewal.due_date).limit(1)
    )
    if open_renewal is not None and open_renewal.due_date != renewal_date:
        before = audit.snapshot(open_renewal)
        open_renewal.due_date = renewal_date
        open_renewal.updated_at = now
        audit.record(session, principal=principal, action="renewal.update", entity="renewal",
                     entity_id=open_renewal.id, at=now, before=before, after=audit.snapshot(open_renewal))
