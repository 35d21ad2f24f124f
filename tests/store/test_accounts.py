from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from store.crm.accounts import AccountFilters, create_account, list_accounts, update_account
from store.crm.pagination import encode_cursor, filters_fingerprint
from store.database.models import Account, AuditEvent, Renewal
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import NOW, TODAY, Db
from tests.factories import make_account


async def test_creating_an_account_opens_its_first_renewal_and_audits_both(db: Db) -> None:
    account = await make_account(db, name="Acme Corp", arr="120000.50", renewal_date=date(2027, 1, 15))

    assert (account.arr, account.owner, account.days_to_renewal, account.version) == (
        Decimal("120000.50"), "ana@example.com", 53, 1)
    async with db.read() as session:
        renewal = await session.scalar(select(Renewal).where(Renewal.account_id == account.id))
        actions = list(await session.scalars(select(AuditEvent.action)
                                             .where(AuditEvent.principal == "ana@example.com")))
    assert renewal is not None
    assert (renewal.stage, renewal.target_amount, renewal.due_date) == ("upcoming", Decimal("120000.50"),
                                                                         date(2027, 1, 15))
    assert actions == ["account.create", "renewal.create"]


async def test_money_is_exact_to_the_cent(db: Db) -> None:
    account = await make_account(db, arr="999999999999.99")
    assert account.arr == Decimal("999999999999.99")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("arr", "12.345", "at most two decimals"),
    ("arr", "-5", "between 0 and"),
    ("arr", "lots", "amount like 125000"),
    ("segment", "galactic", "segment must be one of enterprise, mid_market, smb"),
    ("currency", "dollars", "three-letter ISO 4217"),
    ("domain", "not a domain", "host name like acme.com"),
    ("name", "   ", "name must not be empty"),
])
async def test_bad_input_is_refused_with_a_specific_message_and_nothing_is_written(
        db: Db, field: str, value: str, message: str) -> None:
    fields = {"name": "Acme", "segment": "smb", "arr": "1000", field: value}
    with pytest.raises(InvalidInput, match=message):
        async with db.write() as session:
            await create_account(session, principal=db.principals["ana"], now=NOW, **fields)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.entity == "account")) == 0


async def test_names_are_unique_regardless_of_case(db: Db) -> None:
    await make_account(db, name="Acme Corp")
    with pytest.raises(Conflict, match="already has name 'acme corp'"):
        await make_account(db, name="ACME corp")


async def test_a_csm_cannot_create_an_account_for_someone_else_nor_can_a_reviewer_create_one(db: Db) -> None:
    async with db.write() as session:
        with pytest.raises(InvalidInput, match="creates accounts for themselves"):
            await create_account(session, principal=db.principals["ana"], now=NOW, name="X", segment="smb",
                                 arr=1, owner="ben@example.com")
        with pytest.raises(Forbidden, match="role 'reviewer' cannot create accounts"):
            await create_account(session, principal=db.principals["riley"], now=NOW, name="Y", segment="smb", arr=1)


async def test_a_csm_may_update_only_their_own_accounts_and_a_manager_any(db: Db) -> None:
    bens = await make_account(db, owner="ben", name="Bens Co")
    async with db.write() as session:
        with pytest.raises(Forbidden, match="does not own account 'Bens Co'"):
            await update_account(session, principal=db.principals["ana"], now=NOW, account_id=bens.id,
                                 expected_version=1, changes={"seats": 10})
    async with db.write() as session:
        updated = await update_account(session, principal=db.principals["morgan"], now=NOW, account_id=bens.id,
                                       expected_version=1, changes={"seats": 10, "owner": "ana@example.com"})
    assert (updated.seats, updated.owner, updated.version) == (10, "ana@example.com", 2)


async def test_a_stale_expected_version_is_a_conflict_that_names_the_current_version(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        await update_account(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             expected_version=1, changes={"seats": 40})
    with pytest.raises(Conflict, match="it is at version 2, you sent expected_version 1"):
        async with db.write() as session:
            await update_account(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 expected_version=1, changes={"seats": 99})
    async with db.read() as session:
        assert (await session.get(Account, account.id)).seats == 40


async def test_an_update_audits_only_what_changed(db: Db) -> None:
    account = await make_account(db, arr="1000")
    async with db.write() as session:
        await update_account(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             expected_version=1, changes={"arr": "1500", "seats": 0})
    async with db.read() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "account.update"))
    assert (event.before, event.after) == ({"arr": "1000.00"}, {"arr": "1500.00"})


async def test_moving_the_renewal_date_moves_the_open_renewal_too(db: Db) -> None:
    account = await make_account(db, renewal_date=date(2027, 1, 15))
    async with db.write() as session:
        await update_account(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             expected_version=1, changes={"renewal_date": date(2027, 2, 1)})
    async with db.read() as session:
        due = await session.scalar(select(Renewal.due_date).where(Renewal.account_id == account.id))
    assert due == date(2027, 2, 1)


async def test_an_unknown_account_is_not_found_with_a_hint(db: Db) -> None:
    async with db.write() as session:
        with pytest.raises(NotFound, match="no account with id 999; find ids with list_accounts"):
            await update_account(session, principal=db.principals["ana"], now=NOW, account_id=999,
                                 expected_version=1, changes={"seats": 1})


async def _portfolio(db: Db) -> None:
    rows = [("Alpha", "ana", "50000", date(2026, 12, 1), "enterprise"),
            ("Bravo", "ana", "90000", date(2027, 6, 1), "mid_market"),
            ("Charlie", "ben", "70000", date(2026, 12, 20), "mid_market"),
            ("Delta", "ana", "20000", date(2027, 2, 20), "smb"),
            ("Echo", "ana", "80000", None, "smb")]
    for name, owner, arr, renewal, segment in rows:
        await make_account(db, owner=owner, name=name, arr=arr, renewal_date=renewal, segment=segment)
    scores = {"Alpha": ("at_risk", 30), "Bravo": ("needs_attention", 45), "Charlie": ("at_risk", 20),
              "Delta": ("strongly_thriving", 90)}
    async with db.write() as session:
        for account in await session.scalars(select(Account)):
            if account.name in scores:
                account.health_status, account.health_score = scores[account.name]


async def _names(db: Db, principal: str = "ana", **filters: object) -> list[str]:
    async with db.read() as session:
        page = await list_accounts(session, principal=db.principals[principal], filters=AccountFilters(**filters),
                                   today=TODAY, limit=200)
    return [row.name for row in page.items]


async def test_the_retention_view_answers_my_at_risk_renewals_this_quarter_by_arr(db: Db) -> None:
    await _portfolio(db)
    assert await _names(db, owner="me", health_statuses=("at_risk", "needs_attention"),
                        renewal_within_days=90) == ["Alpha"]
    assert await _names(db) == ["Bravo", "Echo", "Charlie", "Alpha", "Delta"]


async def test_the_retention_view_filters_and_sorts(db: Db) -> None:
    await _portfolio(db)
    assert await _names(db, owner="me", renewal_within_days=90) == ["Alpha", "Delta"]
    assert await _names(db, owner="ben@example.com") == ["Charlie"]
    assert await _names(db, min_arr=Decimal("60000"), max_arr=Decimal("85000")) == ["Echo", "Charlie"]
    assert await _names(db, segment="smb") == ["Echo", "Delta"]
    assert await _names(db, query="rav") == ["Bravo"]
    assert await _names(db, sort="health_score") == ["Charlie", "Alpha", "Bravo", "Delta", "Echo"]
    assert await _names(db, sort="renewal_date") == ["Alpha", "Charlie", "Delta", "Bravo", "Echo"]
    assert await _names(db, sort="arr_asc") == ["Delta", "Alpha", "Charlie", "Echo", "Bravo"]


async def test_text_search_treats_wildcards_literally(db: Db) -> None:
    await make_account(db, name="100% Growth")
    await make_account(db, name="Plain Co")
    assert await _names(db, query="%") == ["100% Growth"]


async def test_pages_follow_the_cursor_and_a_cursor_is_bound_to_its_filters(db: Db) -> None:
    await _portfolio(db)
    seen: list[str] = []
    cursor = None
    async with db.read() as session:
        while True:
            page = await list_accounts(session, principal=db.principals["ana"], filters=AccountFilters(),
                                       today=TODAY, limit=2, cursor=cursor)
            seen += [row.name for row in page.items]
            assert page.total == 5
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ["Bravo", "Echo", "Charlie", "Alpha", "Delta"]
        # A cursor past the end (rows went away since it was issued) still reports the true total.
        past_end = encode_cursor(10, filters_fingerprint({**AccountFilters().__dict__,
                                                          "who": db.principals["ana"].user_id}))
        beyond = await list_accounts(session, principal=db.principals["ana"], filters=AccountFilters(),
                                     today=TODAY, limit=2, cursor=past_end)
        assert (beyond.items, beyond.total, beyond.next_cursor) == ([], 5, None)
        # Also with every kind of bound value in the count (a list of statuses, dates, amounts, text).
        narrow = AccountFilters(owner="me", health_statuses=("at_risk", "needs_attention"), min_arr=Decimal("100"),
                                renewal_within_days=400, query="a")
        past_end = encode_cursor(10, filters_fingerprint({**narrow.__dict__, "who": db.principals["ana"].user_id}))
        beyond = await list_accounts(session, principal=db.principals["ana"], filters=narrow, today=TODAY, limit=2,
                                     cursor=past_end)
        assert (beyond.items, beyond.total) == ([], 2)  # Alpha and Bravo
        first = await list_accounts(session, principal=db.principals["ana"], filters=AccountFilters(),
                                    today=TODAY, limit=2)
        with pytest.raises(InvalidInput, match="issued for different filters"):
            await list_accounts(session, principal=db.principals["ana"], filters=AccountFilters(segment="smb"),
                                today=TODAY, limit=2, cursor=first.next_cursor)
        with pytest.raises(InvalidInput, match="not one this server issued"):
            await list_accounts(session, principal=db.principals["ana"], filters=AccountFilters(),
                                today=TODAY, cursor="garbage!")


async def test_churned_accounts_are_hidden_unless_asked_for(db: Db) -> None:
    account = await make_account(db, name="Gone Co")
    async with db.write() as session:
        await update_account(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             expected_version=1, changes={"status": "churned"})
    assert await _names(db) == []
    assert await _names(db, include_churned=True) == ["Gone Co"]
