from tests.conftest import ClientFactory
from tests.tools.helpers import call_error, call_ok


async def _account(client) -> dict:  # noqa: ANN001
    account = await call_ok(client, "create_account", name="Acme Corp", segment="smb", arr="20000",
                            renewal_date="2027-03-01")
    await call_ok(client, "upsert_contact", account_id=account["id"], name="Pat Lee", email="pat@acme.com",
                  role="champion")
    return account


async def test_a_csm_drafts_and_a_reviewer_edits_and_approves_from_the_assistant(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        draft = await call_ok(client, "draft_touchpoint", account_id=account["id"], kind="check_in")
        own = await call_error(client, "review_draft", draft_id=draft["id"], decision="approve")
    async with connect("riley") as client:
        queue = await call_ok(client, "list_drafts")
        opened = await call_ok(client, "get_draft", draft_id=draft["id"])
        approved = await call_ok(client, "review_draft", draft_id=draft["id"], decision="edit_and_approve",
                                 body="Hi Pat,\n\nShall we catch up next week?\n\nAna", expected_version=1)
        again = await call_error(client, "review_draft", draft_id=draft["id"], decision="reject", note="x")
    assert draft["to"] == "Pat Lee <pat@acme.com>" and draft["method"] == "template"
    assert "role 'csm' cannot approve drafts" in own
    assert [row["id"] for row in queue["items"]] == [draft["id"]]
    assert opened["reasons"] == ["Requested by ana@example.com."] and opened["health_status"] is None
    assert approved["status"] == "approved" and approved["original_body"] == draft["body"]
    assert "reject is possible only from pending_review" in again


async def test_approving_a_stale_draft_is_refused_with_the_reason(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        draft = await call_ok(client, "draft_touchpoint", account_id=account["id"], kind="check_in")
        await call_ok(client, "update_account", account_id=account["id"], expected_version=1, status="churned")
    async with connect("morgan") as client:
        message = await call_error(client, "review_draft", draft_id=draft["id"], decision="approve")
        stale = await call_ok(client, "list_drafts", status=["stale"])
    assert "is stale (the account has churned)" in message
    assert [row["id"] for row in stale["items"]] == [draft["id"]]


async def test_draft_tools_refuse_bad_input(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        bad_kind = await call_error(client, "draft_touchpoint", account_id=account["id"], kind="sales_pitch")
        unknown = await call_error(client, "get_draft", draft_id=999)
    async with connect("ben") as client:
        peer = await call_error(client, "draft_touchpoint", account_id=account["id"], kind="check_in")
    assert "kind" in bad_kind and "no draft with id 999" in unknown and "does not own" in peer


async def test_get_draft_shows_where_each_figure_and_link_came_from_and_what_nothing_accounts_for(
        connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        draft = await call_ok(client, "draft_touchpoint", account_id=account["id"], kind="value_review")
    async with connect("riley") as client:
        opened = await call_ok(client, "get_draft", draft_id=draft["id"])
        edited = await call_ok(client, "review_draft", draft_id=draft["id"], decision="edit", expected_version=1,
                               body=draft["body"] + "\n\nP.S. The slides: https://files.attacker.example/deck")
    sourced = {(h["kind"], h["text"]): h.get("source") for h in opened["highlights"]}
    assert sourced[("figure", "2027-03-01")] == "facts: renewal_date" and sourced[("figure", "45")] == "template"
    assert opened["risk"] == "Every link, address, figure and term in it is in the account's facts."
    (added,) = [h for h in edited["highlights"] if h.get("problem")]
    assert (added["kind"], added["text"], added["where"]) == ("link", "https://files.attacker.example/deck", "body")
    assert edited["body"][added["start"]:added["end"]] == added["text"]
    assert edited["risk"] == "1 item(s) not found in the account's facts (link): check before approving."
