"""Importing accounts and contacts: upserts through the services (audit and revenue events included),
matched by external id, then domain, then name; a bad row or a dry run leaves the data as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.database.models import Account, AuditEvent, Contact, RevenueEvent
from store.errors import InvalidInput
from store.imports import sources
from store.imports.entity_import import import_entities
from store.imports.report import ImportReport
from tests.conftest import NOW, Db

GOOD_ACCOUNTS = """name,segment,arr,owner_email,renewal_date,domain,external_id
Acme Corp,enterprise,250000,ana@example.com,2027-03-31,acme.com,HS-1
Globex,smb,12000.50,ben@example.com,,globex.com,
"""
BAD_ACCOUNTS = """name,segment,arr,owner_email,renewal_date
Acme Corp,enterprise,250000,ana@example.com,2027-03-31
Initech,huge,10,ana@example.com,
Hooli,smb,ten,nobody,31/03/2027
"""


async def _import(db: Db, tmp_path: Path, text: str, kind: str = "accounts", **options: bool) -> ImportReport:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    with sources.opened(str(path)) as source:
        return await import_entities(db.app.write_sessions, kind=kind, source=source, principal=db.principals["morgan"],
                                     now=NOW, **{"create_missing": kind == "accounts", **options})


async def _count(db: Db, model: type) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_good_file_imports_and_a_second_run_changes_nothing(db: Db, tmp_path: Path) -> None:
    first = await _import(db, tmp_path, GOOD_ACCOUNTS)
    second = await _import(db, tmp_path, GOOD_ACCOUNTS)
    assert (first.inserted, second.inserted, second.unchanged) == (2, 0, 2)
    assert second.matched == "by external id 1, by domain 1"
    assert await _count(db, Account) == 2


async def test_a_changed_row_updates_the_account_with_its_audit_and_revenue_events(db: Db, tmp_path: Path) -> None:
    await _import(db, tmp_path, GOOD_ACCOUNTS)
    events_before = await _count(db, RevenueEvent)
    # Matched by external id although the name changed; the ARR moved.
    changed = await _import(db, tmp_path, "name,arr,external_id\nAcme Corporation,300000,HS-1\n")
    async with db.read() as session:
        acme = await session.scalar(select(Account).where(Account.external_id == "HS-1"))
        audit = await session.scalar(select(func.count()).where(AuditEvent.action == "account.update",
                                                                AuditEvent.entity_id == acme.id))
    assert (changed.updated, changed.matched) == (1, "by external id 1")
    assert (acme.name, str(acme.arr)) == ("Acme Corporation", "300000.00")
    assert audit == 1 and await _count(db, RevenueEvent) == events_before + 1


async def test_a_file_with_bad_rows_imports_nothing_and_reports_every_problem(db: Db, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _import(db, tmp_path, BAD_ACCOUNTS)
    message = str(caught.value)
    assert "2 bad row(s); nothing was imported" in message
    assert "line 3: segment must be one of enterprise, mid_market, smb; got 'huge'" in message
    assert ("line 4: arr must be an amount like 125000 or 125000.50; got 'ten'; renewal_date must be a date like "
            "2027-03-31; got '31/03/2027'; owner 'nobody' is not a csdesk user's name or email") in message
    assert await _count(db, Account) == 0


async def test_skip_invalid_imports_the_good_rows_and_a_dry_run_writes_nothing(db: Db, tmp_path: Path) -> None:
    dry = await _import(db, tmp_path, BAD_ACCOUNTS, skip_invalid=True, dry_run=True)
    assert (dry.inserted, len(dry.rejected)) == (1, 2) and await _count(db, Account) == 0
    report = await _import(db, tmp_path, BAD_ACCOUNTS, skip_invalid=True)
    assert (report.inserted, len(report.rejected)) == (1, 2) and await _count(db, Account) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("segment,arr\nsmb,5\n", "missing columns: name"),
    ("name,segment,arr,colour\nAcme,smb,5,red\n", "unknown columns: colour"),
])
async def test_a_file_with_wrong_columns_is_refused_before_any_row(db: Db, tmp_path: Path, text: str,
                                                                   message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await _import(db, tmp_path, text)


async def test_a_new_account_needs_its_segment_and_arr(db: Db, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="line 2: no account matches this row, and a new one needs segment and arr"):
        await _import(db, tmp_path, "name\nNew Co\n")


async def test_without_create_missing_an_unknown_account_is_refused_with_the_keys_tried(db: Db,
                                                                                       tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="line 2: no account matches external_id 'HS-1', domain 'acme.com', name "
                                           "'Acme Corp'; pass --create-missing to create it"):
        await _import(db, tmp_path, GOOD_ACCOUNTS, create_missing=False)
    assert await _count(db, Account) == 0


async def test_contacts_match_accounts_by_any_key_and_update_by_external_id_or_email(db: Db, tmp_path: Path) -> None:
    await _import(db, tmp_path, GOOD_ACCOUNTS)
    contacts = ("account,name,email,role,is_primary_sponsor,external_id\n"
                "HS-1,Pat Lee,pat@acme.com,executive_sponsor,yes,C-1\n"
                "globex.com,Kim Roe,kim@globex.com,champion,,\n")
    first = await _import(db, tmp_path, contacts, "contacts")
    second = await _import(db, tmp_path, contacts, "contacts")
    moved = await _import(db, tmp_path, "account,email,external_id,title\nAcme Corp,pat.lee@acme.com,C-1,CFO\n",
                          "contacts")
    async with db.read() as session:
        pat = await session.scalar(select(Contact).where(Contact.external_id == "C-1"))
    assert (first.inserted, second.unchanged, moved.updated) == (2, 2, 1)
    assert (pat.email, pat.title, pat.is_primary_sponsor) == ("pat.lee@acme.com", "CFO", True)
    assert await _count(db, Contact) == 2
    with pytest.raises(InvalidInput, match="no account matches 'Nope' by external id, domain or name"):
        await _import(db, tmp_path, "account,name\nNope,Someone\n", "contacts")


async def test_an_import_marks_the_accounts_it_changed_and_a_dry_run_marks_none(db: Db, tmp_path: Path) -> None:
    from store.database.models import AccountMark

    await _import(db, tmp_path, GOOD_ACCOUNTS)
    async with db.write() as session:
        await session.execute(AccountMark.__table__.delete())
    await _import(db, tmp_path, "name,arr,external_id\nAcme Corp,300000,HS-1\n", dry_run=True)
    assert await _count(db, AccountMark) == 0
    await _import(db, tmp_path, "name,arr,external_id\nAcme Corp,300000,HS-1\nGlobex,12000.50,\n")
    async with db.read() as session:
        acme = await session.scalar(select(Account.id).where(Account.external_id == "HS-1"))
        marks = [(mark.account_id, mark.reason) for (mark,) in await session.execute(select(AccountMark))]
    assert marks == [(acme, "import.accounts")], "the unchanged Globex is not marked"
