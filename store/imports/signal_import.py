"""Importing a file of signals (usage, tickets, surveys, touchpoints): every row checked first, then
written as upserts, so re-importing a file changes nothing and a changed row updates the stored one.

Every row is checked first — its columns, its account (by external id, domain or exact name), the
importer's right to write it, duplicates within the file — and nothing is written until all are: a
file with any bad row imports nothing unless `skip_invalid`. Then the checked rows are written in chunks
of CHUNK, each one transaction with its audit event, so a long import never holds the database's write
lock for long; an import cut short is finished by running it again, and the end state is that of one
uninterrupted import (every write is an upsert on the row's key).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.auth import audit
from store.auth.principals import Principal
from store.database.models import Contact, User
from store.database.upsert import insert_or_change_returning
from store.errors import InvalidInput
from store.imports.account_index import AccountIndex, AccountRef, may_write
from store.imports.column_maps import ColumnMap, mapped
from store.imports.fields import RowFields
from store.imports.report import ImportReport, check_columns
from store.imports.signal_kinds import KINDS, Record, SignalKind
from store.imports.sources import Row, Source, rows
from store.runs.account_marks import mark_accounts

CHUNK = 5_000


@dataclass
class _Checked:
    """What checking the rows needs: the accounts and people they refer to, and how to read the file."""

    index: AccountIndex
    users: dict[str, int]
    column_map: ColumnMap | None = None


async def import_signals(sessions: async_sessionmaker[AsyncSession], write_sessions: async_sessionmaker[AsyncSession],
                         *, kind: str, source: Source, principal: Principal, now: datetime,
                         skip_invalid: bool = False, dry_run: bool = False, column_map: ColumnMap | None = None,
                         on_progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import one file of `kind` signals (see signal_kinds.KINDS).

    Raises:
        InvalidInput: unknown kind, missing or unknown columns, or bad rows without `skip_invalid`
        (nothing is written then).
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    check_columns(kind, source, column_map, required=("account", *spec.required), optional=spec.optional,
                  help=spec.help)
    report = ImportReport(kind=kind, file=source.name, dry_run=dry_run)
    async with sessions() as session:
        index = await AccountIndex.load(session)
        users = {email: user_id for user_id, email in await session.execute(select(User.id, User.email))}
    checked = _Checked(index=index, users=users, column_map=column_map)
    # The checked rows wait in a temporary file, CHUNK to a pickle, until every row has been checked: the
    # file is read and checked once, and never held in memory whole.
    with tempfile.TemporaryFile(prefix="csdesk-import-") as spool:
        good = _check_all(spec, source, checked, principal, now, report, spool)
        report.matched = index.summary()
        if report.rejected and not skip_invalid:
            raise report.refusal()
        spool.seek(0)
        done = 0
        for chunk in _chunks(spool):
            # A dry run writes each chunk as an import would and rolls it back: what it reports is what the
            # database would have done.
            async with write_sessions() as session:
                transaction = await session.begin()
                await _write_chunk(session, spec, chunk, principal=principal, now=now, report=report,
                                   source=source, users=users)
                await (transaction.rollback() if dry_run else transaction.commit())
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, max(good, done))
    return report


def _check_all(spec: SignalKind, source: Source, checked: _Checked, principal: Principal, now: datetime,
               report: ImportReport, spool: IO[bytes]) -> int:
    """Check every row: the bad ones into the report, the good ones into the spool. Returns how many were good."""
    pending: list[tuple[Any, ...]] = []
    names: tuple[str, ...] = ()
    good = 0
    for row, problems, found in _read(spec, source, checked, principal, now):
        if problems:
            report.rejected.append(f"line {row.line}: {'; '.join(problems)}")
            continue
        assert found is not None
        account, record = found
        names = names or tuple(record.columns)
        # Plain tuples: a pickled dataclass costs ten times as much to read back.
        pending.append((account.id, record.key, tuple(record.columns.values()), record.contact_email,
                        record.author_email, record.day))
        good += 1
        if len(pending) >= CHUNK:
            pickle.dump((names, pending), spool, protocol=pickle.HIGHEST_PROTOCOL)
            pending = []
    if pending:
        pickle.dump((names, pending), spool, protocol=pickle.HIGHEST_PROTOCOL)
    return good


def _read(spec: SignalKind, source: Source, checked: _Checked, principal: Principal,
          now: datetime) -> Iterator[tuple[Row, list[str], tuple[AccountRef, Record] | None]]:
    """Every row with its problems, and, when it has none, its account and record."""
    # Keys seen so far, by hash: a million (account, month) tuples would hold 150 MB, their hashes a third of it.
    seen: set[int] = set()
    # The months that day rows fall in (by hash): a month row for one of them, or a day row for a month that
    # has a month row (its key is in `seen`), is a conflict.
    months_with_days: set[int] = set()
    for row in mapped(rows(source), checked.column_map):
        fields = RowFields(row.values, row.lists)
        problems = row.problems()
        reference = row.values.get("account", "").strip()
        account = checked.index.find(reference) if reference else None
        if not reference:
            problems.append("account is required (its external id, domain or exact name)")
        elif account is None:
            problems.append(f"no account matches {reference!r} by external id, domain or name")
        elif not may_write(principal, account):
            problems.append(f"{principal.email} does not own {account.name}; its owner, a manager or an admin can "
                            "import its data")
        elif account.status != "active":
            problems.append(f"{account.name} has churned; its signals are no longer kept")
        record = spec.read(fields, now)
        problems += fields.problems
        if record is not None and record.author_email and record.author_email not in checked.users:
            problems.append(f"author_email {record.author_email} is not a csdesk user")
        if record is not None and account is not None and not problems:
            key = hash((account.id, record.day or record.key))
            if key in seen:
                problems.append(f"a second row for {account.name} and {record.day or record.key} in this file")
            seen.add(key)
            if spec.name == "usage":
                month = hash((account.id, record.key))
                if (month in seen if record.day else month in months_with_days):
                    problems.append(f"{account.name} has both a month row and day rows for {record.key:%Y-%m}")
                if record.day:
                    months_with_days.add(month)
        yield row, problems, (account, record) if not problems and account and record else None


class _Pending(NamedTuple):
    """A checked row waiting to be written: its account and the columns to store."""

    account_id: int
    values: dict[str, Any]  # the table's columns, account_id among them
    contact_email: str | None = None
    author_email: str | None = None


def _chunks(spool: IO[bytes]) -> Iterator[list[_Pending]]:
    """The checked rows, CHUNK at a time; a usage file's day rows rolled up into their months at the end."""
    days: dict[tuple[int, date], dict[str, Any]] = {}
    while True:
        try:
            names, spooled = pickle.load(spool)
        except EOFError:
            break
        names = (*names, "account_id")
        chunk = []
        for account_id, key, values, contact_email, author_email, day in spooled:
            columns = dict(zip(names, (*values, account_id), strict=True))
            if day is None:
                chunk.append(_Pending(account_id, columns, contact_email, author_email))
                continue
            month = days.get((account_id, key))
            if month is None:
                days[(account_id, key)] = columns
            else:
                month["active_users"] = max(month["active_users"], columns["active_users"])
                month["usage_count"] += columns["usage_count"]
                month["features_adopted"] = max(month["features_adopted"], columns["features_adopted"])
        if chunk:
            yield chunk
    rolled = [_Pending(account_id, columns) for (account_id, _), columns in days.items()]
    for start in range(0, len(rolled), CHUNK):
        yield rolled[start:start + CHUNK]


async def _write_chunk(session: AsyncSession, spec: SignalKind, chunk: list[_Pending], *,
                       principal: Principal, now: datetime, report: ImportReport,
                       source: Source, users: dict[str, int]) -> None:
    """Upsert the chunk's rows: a new key inserted, a stored one updated where a compared column differs,
    the rest left as they are. The database makes that choice in one statement, so the stored rows are
    never read into Python and two imports of the same key cannot both insert it."""
    table = spec.table
    contacts = await _contacts_of(session, chunk)
    rows: list[dict[str, Any]] = []
    for account_id, values, contact_email, author_email in chunk:
        if "contact_id" in spec.compared:
            values["contact_id"] = contacts.get((account_id, contact_email)) if contact_email else None
            if contact_email and values["contact_id"] is None:
                report.contacts_not_found += 1
        if "author_id" in spec.compared:
            values["author_id"] = users[author_email] if author_email else principal.user_id
        if spec.name == "touchpoints":
            values["created_at"] = now  # kept only where the row is new: an update sets the compared columns
        rows.append(values)
    # Ids only grow, and the chunk's transaction holds the write lock, so a returned id above the highest
    # stored before is a row this chunk inserted; one at or below it, a stored row it changed.
    highest = (await session.execute(select(func.max(table.c.id)))).scalar() or 0
    written = await insert_or_change_returning(session, table, rows, keys=("account_id", spec.key_column),
                                               compared=spec.compared, returning=(table.c.id, table.c.account_id))
    inserted = sum(1 for row_id, _ in written if row_id > highest)
    report.inserted += inserted
    report.updated += len(written) - inserted
    report.unchanged += len(chunk) - len(written)
    if not written:
        return
    await audit.write(session, principal=principal, action=f"import.{spec.name}", entity="import", entity_id=0,
                      at=now, before={}, after={"file": source.name, "inserted": inserted,
                                                "updated": len(written) - inserted})
    # In real time, not the business clock a demo may pin: the watch measures its lag from it.
    await mark_accounts(session, {account_id for _, account_id in written}, now=datetime.now(UTC),
                        reason=f"import.{spec.name}")


async def _contacts_of(session: AsyncSession, chunk: list[_Pending]) -> dict[tuple[int, str], int]:
    emails = {row.contact_email for row in chunk if row.contact_email}
    if not emails:
        return {}
    found = await session.execute(select(Contact.account_id, Contact.email, Contact.id).where(
        Contact.account_id.in_({row.account_id for row in chunk}), Contact.email.in_(emails)))
    return {(account_id, email): contact_id for account_id, email, contact_id in found}

