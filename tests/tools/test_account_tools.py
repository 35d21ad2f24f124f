from mcp import Client

from server.app import build_server
from server.settings import Settings
from store.clock import FixedClock
from tests.conftest import NOW, ClientFactory, Db
from tests.tools.helpers import call_error, call_ok


async def _create(client, name: str = "Acme Corp", **fields) -> dict:  # noqa: ANN001
    fields.setdefault("segment", "enterprise")
    fields.setdefault("arr", "240000")
    return await call_ok(client, "create_account", name=name, **fields)


async def test_a_csm_creates_lists_opens_and_updates_an_account(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        created = await _create(client, renewal_date="2027-01-15", domain="acme.com", seats=120)
        listed = await call_ok(client, "list_accounts", owner="me", renewal_within_days=90)
        view = await call_ok(client, "get_account", account_id=created["id"])
        updated = await call_ok(client, "update_account", account_id=created["id"], expected_version=1,
                                seats=150, churn_risk_reason="Budget freeze")
    assert created["arr"] == "240000.00" and created["owner"] == "ana@example.com"
    assert [row["name"] for row in listed["items"]] == ["Acme Corp"] and listed["next_cursor"] is None
    assert view["account"]["domain"] == "acme.com" and view["open_renewal"]["due_date"] == "2027-01-15"
    assert (updated["seats"], updated["churn_risk_reason"], updated["version"]) == (150, "Budget freeze", 2)


async def test_list_accounts_pages_with_a_cursor(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        for index in range(5):
            await _create(client, name=f"Account {index}", arr=str(1000 * (index + 1)))
        first = await call_ok(client, "list_accounts", limit=2)
        second = await call_ok(client, "list_accounts", limit=2, cursor=first["next_cursor"])
    assert [row["name"] for row in first["items"] + second["items"]] == [
        "Account 4", "Account 3", "Account 2", "Account 1"]
    assert first["total"] == 5


async def test_bad_input_comes_back_as_a_specific_tool_error_and_writes_nothing(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        assert "arr may have at most two decimals" in await call_error(
            client, "create_account", name="X", segment="smb", arr="10.005")
        assert "renewal_date" in await call_error(
            client, "create_account", name="X", segment="smb", arr="10", renewal_date="next spring")
        assert "segment" in await call_error(client, "create_account", name="X", segment="huge", arr="10")
        assert "limit" in await call_error(client, "list_accounts", limit=500)
        assert "no account with id 77" in await call_error(client, "get_account", account_id=77)
        assert "cursor is not one this server issued" in await call_error(client, "list_accounts", cursor="zzz")
        assert "nothing to update" in await call_error(client, "update_account", account_id=1, expected_version=1)
        listing = await call_ok(client, "list_accounts")
    assert listing["total"] == 0


async def test_a_csm_cannot_update_a_peers_account(connect: ClientFactory) -> None:
    async with connect("ben") as client:
        bens = await _create(client, name="Bens Co")
    async with connect("ana") as client:
        message = await call_error(client, "update_account", account_id=bens["id"], expected_version=1, seats=3)
        view = await call_ok(client, "get_account", account_id=bens["id"])
    assert "does not own account 'Bens Co'" in message
    assert view["account"]["seats"] == 0


async def test_a_stale_version_is_a_conflict_the_model_can_act_on(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _create(client)
        await call_ok(client, "update_account", account_id=account["id"], expected_version=1, seats=10)
        message = await call_error(client, "update_account", account_id=account["id"], expected_version=1,
                                   seats=20)
        view = await call_ok(client, "get_account", account_id=account["id"])
    assert "at version 2, you sent expected_version 1" in message
    assert view["account"]["seats"] == 10


async def test_a_manager_reassigns_an_account_but_a_csm_cannot(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _create(client)
        refused = await call_error(client, "update_account", account_id=account["id"], expected_version=1,
                                   owner="ben@example.com")
    async with connect("morgan") as client:
        moved = await call_ok(client, "update_account", account_id=account["id"], expected_version=1,
                              owner="ben@example.com")
    assert "only a manager or an admin can reassign" in refused
    assert moved["owner"] == "ben@example.com"


async def test_an_unknown_or_missing_user_gets_a_clear_error(main_db: Db, main_settings: Settings) -> None:
    for user, expected in ((None, "no user is configured: set CSDESK_USER"),
                           ("ghost@example.com", "ghost@example.com is not a csdesk user")):
        server = build_server(main_settings.model_copy(update={"user": user}), clock=FixedClock(NOW))
        async with Client(server) as client:
            assert expected in await call_error(client, "list_accounts")


async def test_argument_errors_name_the_argument_and_what_is_accepted(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        bad_date = await call_error(client, "create_account", name="X", segment="smb", arr="10",
                                    renewal_date="next spring")
        bad_many = await call_error(client, "create_account", name="X", segment="huge", arr="ten")
        missing = await call_error(client, "create_account", segment="smb")
        bad_time = await call_error(client, "log_touchpoint", account_id=1, kind="call", summary="x",
                                    occurred_at="yesterday")
    assert "renewal_date:" in bad_date and "expected a date like 2027-03-31 (got 'next spring')" in bad_date
    assert "segment: Input should be 'enterprise', 'mid_market' or 'smb' (got 'huge')" in bad_many
    assert "arr: Input should be a valid decimal; expected an amount like 125000" in bad_many
    assert "name: required; arr: required" in missing
    assert "occurred_at:" in bad_time and "like 2026-11-20T15:00:00Z" in bad_time
    for message in (bad_date, bad_many, missing, bad_time):
        assert "pydantic" not in message and "validation error for" not in message
