"""CSV import of accounts and contacts: every row checked, all or nothing unless told to skip bad rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth.principals import Principal
from store.crm.accounts import create_account
from store.crm.contacts import upsert_contact
from store.database.models import Account, Contact
from store.errors import CsdeskError, InvalidInput

ACCOUNT_COLUMNS = {"name", "segment", "arr"}
ACCOUNT_OPTIONAL = {"owner_email", "domain", "lifecycle_stage", "currency", "seats", "contract_start",
                    "renewal_date", "onboarding_status"}
CONTACT_COLUMNS = {"account", "name"}
CONTACT_OPTIONAL = {"email", "title", "role", "is_primary_sponsor", "left_company_on"}
MAX_ROWS = 50_000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


RowHandler = Callable[[AsyncSession, dict[str, str], Principal, datetime], Awaitable[str]]


async def import_accounts(session: AsyncSession, *, principal: Principal, now: datetime, text: str,
                          skip_invalid: bool = False) -> ImportReport:
    """Create the accounts in a CSV; accounts whose name exists already are left as they are.

    Raises:
        InvalidInput: the file is malformed, or a row is bad and `skip_invalid` is off (nothing written).
    """
    return await _import(session, principal=principal, now=now, text=text, skip_invalid=skip_invalid,
                         required=ACCOUNT_COLUMNS, optional=ACCOUNT_OPTIONAL, handle=_account_row)


async def import_contacts(session: AsyncSession, *, principal: Principal, now: datetime, text: str,
                          skip_invalid: bool = False) -> ImportReport:
    """Add or update contacts (matched by email on their account) from a CSV.

    Raises:
        InvalidInput: the file is malformed, or a row is bad and `skip_invalid` is off (nothing written).
    """
    return await _import(session, principal=principal, now=now, text=text, skip_invalid=skip_invalid,
                         required=CONTACT_COLUMNS, optional=CONTACT_OPTIONAL, handle=_contact_row)


async def _import(session: AsyncSession, *, principal: Principal, now: datetime, text: str, skip_invalid: bool,
                  required: set[str], optional: set[str], handle: RowHandler) -> ImportReport:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {name.strip() for name in reader.fieldnames or []}
    missing, unknown = required - columns, columns - required - optional
    if missing or unknown:
        problems = [f"missing columns: {', '.join(sorted(missing))}"] if missing else []
        problems += [f"unknown columns: {', '.join(sorted(unknown))}"] if unknown else []
        raise InvalidInput("; ".join(problems) + f". Required: {', '.join(sorted(required))}; "
                           f"optional: {', '.join(sorted(optional))}")
    report = ImportReport()
    for line_number, raw in enumerate(reader, start=2):
        if line_number - 1 > MAX_ROWS:
            raise InvalidInput(f"the file has more than {MAX_ROWS} rows; split it")
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key is not None}
        if None in raw:
            report.errors.append(f"line {line_number}: more values than columns")
            continue
        try:
            async with session.begin_nested():
                outcome = await handle(session, row, principal, now)
        except CsdeskError as exc:
            report.errors.append(f"line {line_number}: {exc}")
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    if report.errors and not skip_invalid:
        shown = "\n".join(report.errors[:50])
        more = f"\n…and {len(report.errors) - 50} more" if len(report.errors) > 50 else ""
        raise InvalidInput(f"{len(report.errors)} bad row(s); nothing was imported. Fix them or pass "
                           f"--skip-invalid to import the rest:\n{shown}{more}")
    return report


async def _account_row(session: AsyncSession, row: dict[str, str], principal: Principal, now: datetime) -> str:
    name = validation.text(row.get("name", ""), "name", max_length=200)
    if await session.scalar(select(Account.id).where(Account.name_lower == name.lower())) is not None:
        return "unchanged"
    await create_account(
        session, principal=principal, now=now, name=name, owner=row.get("owner_email") or "me",
        segment=row.get("segment", ""), arr=row.get("arr", ""),
        lifecycle_stage=row.get("lifecycle_stage") or "onboarding", currency=row.get("currency") or "USD",
        seats=_int(row.get("seats"), "seats"), domain=row.get("domain") or None,
        contract_start=_date(row.get("contract_start"), "contract_start"),
        renewal_date=_date(row.get("renewal_date"), "renewal_date"),
        onboarding_status=row.get("onboarding_status") or "not_started",
    )
    return "created"


async def _contact_row(session: AsyncSession, row: dict[str, str], principal: Principal, now: datetime) -> str:
    reference = row.get("account", "")
    account = await session.scalar(select(Account).where(
        (Account.name_lower == reference.lower()) | (Account.domain == reference.lower())))
    if account is None:
        raise InvalidInput(f"account {reference!r} not found (give its exact name or domain)")
    email = row.get("email") or None
    existed = False
    if email:
        existed = await session.scalar(select(Contact.id).where(
            Contact.account_id == account.id, Contact.email == validation.email(email))) is not None
    await upsert_contact(
        session, principal=principal, now=now, account_id=account.id, email=email, name=row.get("name"),
        title=row.get("title") or None, role=row.get("role") or None,
        is_primary_sponsor=_bool(row.get("is_primary_sponsor"), "is_primary_sponsor"),
        left_company_on=_date(row.get("left_company_on"), "left_company_on"),
    )
    return "updated" if existed else "created"


def _int(value: str | None, name: str) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a whole number; got {value!r}") from exc


def _date(value: str | None, name: str) -> Any:
    return validation.parse_date(value, name) if value else None


def _bool(value: str | None, name: str) -> bool | None:
    if not value:
        return None
    lowered = value.lower()
    if lowered in {"true", "yes", "1", "y"}:
        return True
    if lowered in {"false", "no", "0", "n"}:
        return False
    raise InvalidInput(f"{name} must be true or false; got {value!r}")
