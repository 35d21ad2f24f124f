"""Success plans through the MCP client: one tool writes, get_account reads."""

from __future__ import annotations

from tests.conftest import ClientFactory
from tests.tools.helpers import call_error, call_ok


async def test_a_csm_keeps_a_plan_from_the_assistant_and_reads_it_in_get_account(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Acme Corp", segment="smb", arr="20000")
        plan = await call_ok(client, "update_success_plan", account_id=account["id"], action="start",
                             text="Faster month-end")
        plan = await call_ok(client, "update_success_plan", account_id=account["id"], action="set_outcome",
                             expected_version=plan["version"], text="Close the books in 3 days", metric="Days to close",
                             unit="days", baseline="10", target="3", due="2027-03-31", owner="me")
        outcome_id = plan["outcomes"][0]["id"]
        plan = await call_ok(client, "update_success_plan", account_id=account["id"], action="record_value",
                             expected_version=plan["version"], outcome_id=outcome_id, value="3")
        stale = await call_error(client, "update_success_plan", account_id=account["id"], action="close",
                                 expected_version=1)
        same = await call_error(client, "update_success_plan", account_id=account["id"], action="set_outcome",
                                expected_version=plan["version"], text="Nothing moves", metric="Days", unit="days",
                                baseline="4", target="4", due="2027-01-01")
        view = await call_ok(client, "get_account", account_id=account["id"])
    assert plan["outcomes"][0]["status"] == "achieved" and plan["version"] == 3
    assert "at version 3, you sent expected_version 1" in stale
    assert "target (4) equals baseline" in same
    shown = view["success_plan"]
    assert (shown["title"], shown["outcomes"][0]["metric"], shown["outcomes"][0]["current_value"]) == (
        "Faster month-end", "Days to close", "3")


async def test_another_csm_cannot_edit_the_plan(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Mine Co", segment="smb", arr="1000")
        await call_ok(client, "update_success_plan", account_id=account["id"], action="start", text="Goals")
    async with connect("ben") as client:
        refused = await call_error(client, "update_success_plan", account_id=account["id"], action="close",
                                   expected_version=1)
    assert "does not own account 'Mine Co'" in refused


async def test_list_accounts_finds_the_plans_that_need_attention(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        slipping = await call_ok(client, "create_account", name="Slipping Co", segment="smb", arr="3000")
        fine = await call_ok(client, "create_account", name="Fine Co", segment="smb", arr="4000")
        for account in (slipping, fine):
            plan = await call_ok(client, "update_success_plan", account_id=account["id"], action="start",
                                 text="Goals", on="2026-09-01")
            await call_ok(client, "update_success_plan", account_id=account["id"], action="add_milestone",
                          expected_version=plan["version"], text="Go live",
                          due="2026-11-01" if account is slipping else "2027-02-01")
        flagged = await call_ok(client, "list_accounts", plan_attention=True)
    assert [row["name"] for row in flagged["items"]] == ["Slipping Co"]
