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
from typing import IO, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.auth import audit
from store.auth.principals import Principal
from store.database.models import Contact, User
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
            async with (sessions() if dry_run else write_sessions()) as session, session.begin():
                await _write_chunk(session, spec, chunk, principal=principal, now=now, report=report,
                                   dry_run=dry_run, source=source, users=users)
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


def _chunks(spool: IO[bytes]) -> Iterator[list[tuple[int, Record]]]:
    """The checked rows, CHUNK at a time; a usage file's day rows rolled up into their months at the end."""
    days: dict[tuple[int, date], dict[str, Any]] = {}
    while True:
        try:
            names, spooled = pickle.load(spool)
        except EOFError:
            break
        chunk = []
        for account_id, key, values, contact_email, author_email, day in spooled:
            columns = dict(zip(names, values, strict=True))
            if day is None:
                chunk.append((account_id, Record(columns=columns, key=key, contact_email=contact_email,
                                                 author_email=author_email)))
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
    rolled = [(account_id, Record(columns=columns, key=month)) for (account_id, month), columns in days.items()]
    for start in range(0, len(rolled), CHUNK):
        yield rolled[start:start + CHUNK]


async def _write_chunk(session: AsyncSession, spec: SignalKind, chunk: list[tuple[int, Record]], *,
                       principal: Principal, now: datetime, report: ImportReport, dry_run: bool,
                       source: Source, users: dict[str, int]) -> None:
    table = spec.table
    key_column = table.c[spec.key_column]
    contacts = await _contacts_of(session, chunk)
    # The chunk's accounts' rows, all of them: a second IN list on the key would make SQLite probe the
    # (account_id, key) index once for every pair of the two lists.
    keys = {(account_id, record.key) for account_id, record in chunk}
    existing = {(row.account_id, row[2]): row for row in await session.execute(
        select(table.c.id, table.c.account_id, key_column, *(table.c[c] for c in spec.compared))
        .where(table.c.account_id.in_({account_id for account_id, _ in chunk})))
        if (row.account_id, row[2]) in keys}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changed_accounts: set[int] = set()
    for account_id, record in chunk:
        values = {"account_id": account_id, **record.columns}
        if "contact_id" in spec.compared:
            values["contact_id"] = contacts.get((account_id, record.contact_email)) if record.contact_email else None
            if record.contact_email and values["contact_id"] is None:
                report.contacts_not_found += 1
        if "author_id" in spec.compared:
            values["author_id"] = users[record.author_email] if record.author_email else principal.user_id
        stored = existing.get((account_id, record.key))
        if stored is None:
            inserts.append(values)
            changed_accounts.add(account_id)
        elif any(getattr(stored, column) != values.get(column) for column in spec.compared
                 if column in values):
            updates.append({"_id": stored.id, **{c: values[c] for c in spec.compared if c in values}})
            changed_accounts.add(account_id)
        else:
            report.unchanged += 1
    report.inserted += len(inserts)
    report.updated += len(updates)
    if dry_run or not (inserts or updates):
        return
    if spec.name == "touchpoints":
        for values in inserts:
            values["created_at"] = now
    if inserts:
        await session.execute(insert(table), inserts)
    if updates:
        changed = [c for c in spec.compared if c in updates[0]]
        statement = update(table).where(table.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in changed})
        await session.execute(statement.execution_options(synchronize_session=False), updates)
    await audit.write(session, principal=principal, action=f"import.{spec.name}", entity="import", entity_id=0,
                      at=now, before={}, after={"file": source.name, "inserted": len(inserts),
                                                "updated": len(updates)})
    # In real time, not the business clock a demo may pin: the watch measures its lag from it.
    await mark_accounts(session, changed_accounts, now=datetime.now(UTC), reason=f"import.{spec.name}")


async def _contacts_of(session: AsyncSession, chunk: list[tuple[int, Record]]) -> dict[tuple[int, str], int]:
    emails = {record.contact_email for _, record in chunk if record.contact_email}
    if not emails:
        return {}
    found = await session.execute(select(Contact.account_id, Contact.email, Contact.id).where(
        Contact.account_id.in_({account_id for account_id, _ in chunk}), Contact.email.in_(emails)))
    return {(account_id, email): contact_id for account_id, email, contact_id in found}

