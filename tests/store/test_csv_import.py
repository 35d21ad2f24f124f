import pytest
from sqlalchemy import func, select

from store.database.models import Account, Contact
from store.errors import InvalidInput
from store.imports.csv_import import import_accounts, import_contacts
from tests.conftest import NOW, Db

GOOD_ACCOUNTS = """name,segment,arr,owner_email,renewal_date,domain
Acme Corp,enterprise,250000,ana@example.com,2027-03-31,acme.com
Globex,smb,12000.50,ben@example.com,,globex.com
"""
BAD_ACCOUNTS = """name,segment,arr,owner_email,renewal_date
Acme Corp,enterprise,250000,ana@example.com,2027-03-31
Initech,huge,10,ana@example.com,
Hooli,smb,ten,ana@example.com,31/03/2027
"""


async def _count(db: Db, model: type) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_a_good_file_imports_and_a_second_run_changes_nothing(db: Db) -> None:
    async with db.write() as session:
        first = await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=GOOD_ACCOUNTS)
    async with db.write() as session:
        second = await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=GOOD_ACCOUNTS)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    assert await _count(db, Account) == 2


async def test_a_file_with_bad_rows_imports_nothing_and_reports_each_row(db: Db) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with db.write() as session:
            await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=BAD_ACCOUNTS)
    message = str(caught.value)
    assert "2 bad row(s); nothing was imported" in message
    assert "line 3: segment must be one of enterprise, mid_market, smb; got 'huge'" in message
    assert "line 4: renewal_date must be a date like 2027-03-31; got '31/03/2027'" in message
    assert await _count(db, Account) == 0


async def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(db: Db) -> None:
    async with db.write() as session:
        report = await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=BAD_ACCOUNTS,
                                       skip_invalid=True)
    assert (report.created, report.skipped) == (1, 2)
    assert await _count(db, Account) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("name,arr\nAcme,5\n", "missing columns: segment"),
    ("name,segment,arr,colour\nAcme,smb,5,red\n", "unknown columns: colour"),
])
async def test_a_file_with_wrong_columns_is_refused_before_any_row(db: Db, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        async with db.write() as session:
            await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=text)


async def test_contacts_import_matches_accounts_by_name_or_domain_and_updates_by_email(db: Db) -> None:
    async with db.write() as session:
        await import_accounts(session, principal=db.principals["morgan"], now=NOW, text=GOOD_ACCOUNTS)
    contacts = ("account,name,email,role,is_primary_sponsor\n"
                "Acme Corp,Pat Lee,pat@acme.com,executive_sponsor,yes\n"
                "globex.com,Kim Roe,kim@globex.com,champion,\n")
    async with db.write() as session:
        first = await import_contacts(session, principal=db.principals["morgan"], now=NOW, text=contacts)
    async with db.write() as session:
        second = await import_contacts(session, principal=db.principals["morgan"], now=NOW, text=contacts)
    assert (first.created, second.updated) == (2, 2)
    assert await _count(db, Contact) == 2
    with pytest.raises(InvalidInput, match="account 'Nope' not found"):
        async with db.write() as session:
            await import_contacts(session, principal=db.principals["morgan"], now=NOW,
                                  text="account,name\nNope,Someone\n")
