"""Importing accounts, contacts and success plans (store.imports.plan_import): upserts through the same
services the tools use, so a changed row is an update with its audit event (and a revenue event where
ARR moved), a new one a creation, and an unchanged one nothing at all. The file is one transaction: a
bad row (without `skip_invalid`) or a dry run leaves the data as it was.

An account row is matched by its external_id, then its domain, then its exact name (any case), and
creates an account only when asked to (`create_missing`); a contact row by its external_id, then its
email, on the account its `account` column names (external id, domain or name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store import validation
from store.auth.principals import Principal
from store.crm.accounts import create_account, update_account
from store.crm.contacts import upsert_contact
from store.database.models import Account, Contact, User
from store.errors import CsdeskError, InvalidInput
from store.imports.account_index import AccountIndex, AccountRef
from store.imports.column_maps import ColumnMap, mapped
from store.imports.fields import RowFields
from store.imports.plan_import import PLAN_COLUMNS, plan_row
from store.imports.report import ImportReport, check_columns
from store.imports.sources import Row, Source, rows
from store.runs.account_marks import mark_accounts
from store.vocabulary import CONTACT_ROLES, LIFECYCLE_STAGES, ONBOARDING_STATUSES, SEGMENTS


@dataclass(frozen=True)
class EntityKind:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    help: str


ENTITY_KINDS = {
    "accounts": EntityKind("accounts", required=("name",),
                           optional=("segment", "arr", "external_id", "domain", "owner_email", "owner",
                                     "lifecycle_stage", "currency", "seats", "contract_start", "renewal_date",
                                     "onboarding_status"),
                           help="segment and arr are required for a new account; owner_email or owner (a user's "
                                "email or name)"),
    "contacts": EntityKind("contacts", required=("account",),
                           optional=("name", "email", "external_id", "title", "role", "is_primary_sponsor",
                                     "left_company_on"),
                           help="account is its external id, domain or name; name is required for a new contact"),
    "success-plans": EntityKind("success-plans", required=("account", "plan"), optional=PLAN_COLUMNS,
                                help="a row is an outcome (outcome, metric, unit, baseline, target, target_date; "
                                     "current to record a value) or a milestone (milestone, due; completed); keyed "
                                     "by plan_id, outcome_id and milestone_id, else by title or text"),
}
# An account row's free-text columns and their longest values.
ACCOUNT_TEXT = {"name": 200, "external_id": 200}


async def import_entities(write_sessions: async_sessionmaker[AsyncSession], *, kind: str, source: Source,
                          principal: Principal, now: datetime, skip_invalid: bool = False, dry_run: bool = False,
                          column_map: ColumnMap | None = None, create_missing: bool = False,
                          on_progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import a file of accounts or contacts as upserts (see the module's docstring). An account row that
    matches no account is refused, unless `create_missing`: then it creates one (it needs segment and arr),
    so a typo in a weekly sync never adds an account.

    Raises:
        InvalidInput: unknown kind, missing or unknown columns, or bad rows without `skip_invalid`
        (nothing is written then).
    """
    spec = ENTITY_KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"kind must be one of {', '.join(ENTITY_KINDS)}; got {kind!r}")
    check_columns(kind, source, column_map, required=spec.required, optional=spec.optional, help=spec.help)
    report = ImportReport(kind=kind, file=source.name, dry_run=dry_run)
    async with write_sessions() as session:
        await session.begin()
        index = await AccountIndex.load(session)
        users = {name.lower(): email for name, email in await session.execute(select(User.name, User.email))}
        done = 0
        changed: set[int] = set()
        for row in mapped(rows(source), column_map):
            handle = {"accounts": _account_row, "contacts": _contact_row, "success-plans": plan_row}[kind]
            try:
                async with session.begin_nested():
                    outcome, account_id = await handle(session, row, principal=principal, now=now, index=index,
                                                       users=users, create_missing=create_missing)
            except CsdeskError as exc:
                report.rejected.append(f"line {row.line}: {exc}")
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome != "unchanged":
                changed.add(account_id)
            done += 1
            if on_progress is not None:
                on_progress(done, done)
        report.matched = index.summary()
        if report.rejected and not skip_invalid:
            await session.rollback()
            raise report.refusal()
        if dry_run:
            await session.rollback()
        else:
            # In real time, not the business clock a demo may pin: the watch measures its lag from it.
            await mark_accounts(session, changed, now=datetime.now(UTC), reason=f"import.{kind}")
            await session.commit()
    return report


async def _account_row(session: AsyncSession, row: Row, *, principal: Principal, now: datetime,
                       index: AccountIndex, users: dict[str, str], create_missing: bool) -> tuple[str, int]:
    fields = RowFields(row.values)
    problems = row.problems()
    wanted: dict[str, Any] = {}
    for column, length in ACCOUNT_TEXT.items():
        if (value := fields.text(column, max_length=length)) is not None:
            wanted[column] = value
    for column, allowed in (("segment", SEGMENTS), ("lifecycle_stage", LIFECYCLE_STAGES),
                            ("onboarding_status", ONBOARDING_STATUSES)):
        if (value := fields.choice(column, allowed)) is not None:
            wanted[column] = value
    for column, read in (("arr", lambda v: validation.money(v, "arr")), ("domain", validation.domain),
                         ("currency", validation.currency),
                         ("contract_start", lambda v: validation.parse_date(v, "contract_start")),
                         ("renewal_date", lambda v: validation.parse_date(v, "renewal_date"))):
        if (value := _checked(fields, column, read)) is not None:
            wanted[column] = value
    if (seats := fields.integer("seats")) is not None:
        wanted["seats"] = seats
    owner = _owner_of(fields, users)
    if owner is not None:
        wanted["owner"] = owner
    problems += fields.problems
    if problems:
        raise InvalidInput("; ".join(problems))
    existing = _match_account(index, wanted)
    if existing is None and not create_missing:
        tried = ", ".join(f"{key} {wanted[key]!r}" for key in ("external_id", "domain", "name") if wanted.get(key))
        raise InvalidInput(f"no account matches {tried or 'this row'}; pass --create-missing to create it (a new "
                           "account needs name, segment and arr)")
    if existing is None:
        return await _create_account(session, wanted, principal=principal, now=now, index=index)
    account = await session.get(Account, existing.id)
    assert account is not None
    current_owner = await session.scalar(select(User.email).where(User.id == account.owner_id))
    changes = {key: value for key, value in wanted.items()
               if (current_owner if key == "owner" else getattr(account, key)) != value}
    if not changes:
        return "unchanged", account.id
    await update_account(session, principal=principal, now=now, account_id=account.id,
                         expected_version=account.version, changes=changes)
    return "updated", account.id


def _checked(fields: RowFields, column: str, read: Callable[[str], Any]) -> Any:
    raw = fields.values.get(column, "").strip()
    if not raw:
        return None
    try:
        return read(raw)
    except InvalidInput as exc:
        fields.problems.append(str(exc))
        return None


def _owner_of(fields: RowFields, users: dict[str, str]) -> str | None:
    """The owner's email from owner_email, or from owner as an email or a user's name."""
    reference = (fields.values.get("owner_email") or fields.values.get("owner") or "").strip()
    if not reference:
        return None
    if "@" in reference:
        return reference.lower()
    email = users.get(reference.lower())
    if email is None:
        fields.problems.append(f"owner {reference!r} is not a csdesk user's name or email")
    return email


def _match_account(index: AccountIndex, wanted: dict[str, Any]) -> AccountRef | None:
    for match, key in (("external_id", wanted.get("external_id")), ("domain", wanted.get("domain")),
                       ("name", (wanted.get("name") or "").lower())):
        if key and (ref := index.by[match].get(key)) is not None:
            index.matched[match] += 1
            return ref
    return None


async def _create_account(session: AsyncSession, wanted: dict[str, Any], *, principal: Principal, now: datetime,
                          index: AccountIndex) -> tuple[str, int]:
    missing = [column for column in ("segment", "arr") if column not in wanted]
    if missing:
        raise InvalidInput(f"no account matches this row, and a new one needs {' and '.join(missing)}")
    owner = wanted.pop("owner", "me")
    detail = await create_account(session, principal=principal, now=now, owner=owner, **wanted)
    ref = AccountRef(id=detail.id, name=detail.name, owner_id=0, status="active")
    index.by["name"][detail.name.lower()] = ref
    if detail.domain:
        index.by["domain"][detail.domain] = ref
    if detail.external_id:
        index.by["external_id"][detail.external_id] = ref
    return "inserted", detail.id


async def _contact_row(session: AsyncSession, row: Row, *, principal: Principal, now: datetime,
                       index: AccountIndex, users: dict[str, str], create_missing: bool = False) -> tuple[str, int]:
    fields = RowFields(row.values)
    problems = row.problems()
    account = index.account_of(fields, problems)
    wanted: dict[str, Any] = {}
    for column, length in (("name", 200), ("title", 200), ("external_id", 200)):
        if (value := fields.text(column, max_length=length)) is not None:
            wanted[column] = value
    if (email := fields.email("email")) is not None:
        wanted["email"] = email
    if (role := fields.choice("role", CONTACT_ROLES)) is not None:
        wanted["role"] = role
    if (sponsor := fields.boolean("is_primary_sponsor")) is not None:
        wanted["is_primary_sponsor"] = sponsor
    if (left := _checked(fields, "left_company_on", lambda v: validation.parse_date(v, "left_company_on"))):
        wanted["left_company_on"] = left
    problems += fields.problems
    if problems or account is None:
        raise InvalidInput("; ".join(problems))
    existing = await _existing_contact(session, account.id, wanted)
    if existing is not None and all(getattr(existing, key) == value for key, value in wanted.items()):
        return "unchanged", account.id
    await upsert_contact(session, principal=principal, now=now, account_id=account.id,
                         contact_id=existing.id if existing else None, **wanted)
    return ("updated" if existing else "inserted"), account.id


async def _existing_contact(session: AsyncSession, account_id: int, wanted: dict[str, Any]) -> Contact | None:
    for column in ("external_id", "email"):
        if wanted.get(column):
            found = await session.scalar(select(Contact).where(Contact.account_id == account_id,
                                                               func.coalesce(getattr(Contact, column), "")
                                                               == wanted[column]))
            if found is not None:
                return found
    return None
