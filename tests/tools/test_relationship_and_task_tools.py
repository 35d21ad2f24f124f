from tests.conftest import ClientFactory
from tests.tools.helpers import call_error, call_ok


async def _account(client, **fields) -> dict:  # noqa: ANN001
    return await call_ok(client, "create_account", name=fields.pop("name", "Acme Corp"), segment="mid_market",
                         arr="80000", renewal_date="2027-01-10", **fields)


async def test_a_csm_records_a_note_and_a_call_and_replaces_the_departed_sponsor(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        old = await call_ok(client, "upsert_contact", account_id=account["id"], name="Pat Old", email="pat@acme.com",
                            role="executive_sponsor", is_primary_sponsor=True)
        note = await call_ok(client, "add_health_note", account_id=account["id"], sentiment="negative",
                             body="Pat is leaving; budget owner unclear.")
        call = await call_ok(client, "log_touchpoint", account_id=account["id"], kind="call",
                             summary="Talked to Pat about the handover", contact_id=old["id"],
                             occurred_at="2026-11-22T15:00:00Z")
        await call_ok(client, "upsert_contact", account_id=account["id"], contact_id=old["id"],
                      left_company_on="2026-11-20", expected_version=old["version"])
        await call_ok(client, "upsert_contact", account_id=account["id"], name="Sam New", email="sam@acme.com",
                      role="executive_sponsor", is_primary_sponsor=True)
        view = await call_ok(client, "get_account", account_id=account["id"])
    assert note["sentiment"] == "negative" and call["kind"] == "call"
    sponsors = {c["name"]: (c["is_primary_sponsor"], c["left_company_on"]) for c in view["contacts"]}
    assert sponsors == {"Sam New": (True, None), "Pat Old": (False, "2026-11-20")}
    assert view["recent_notes"][0]["body"] == "Pat is leaving; budget owner unclear."
    assert view["last_outbound_contact_at"] == "2026-11-22T15:00:00Z"


async def test_relationship_tools_refuse_bad_input_and_peers(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        assert "body must not be empty" in await call_error(client, "add_health_note", account_id=account["id"],
                                                            body="  ")
        assert "kind" in await call_error(client, "log_touchpoint", account_id=account["id"], kind="fax",
                                          summary="x")
        assert "email must be an email address" in await call_error(client, "upsert_contact",
                                                                    account_id=account["id"], name="X",
                                                                    email="not-an-email")
    async with connect("ben") as client:
        assert "does not own" in await call_error(client, "add_health_note", account_id=account["id"], body="hi")


async def test_the_renewal_moves_through_stages_and_closes(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        renewal = (await call_ok(client, "list_renewals", owner="me"))["items"][0]
        moved = await call_ok(client, "update_renewal", renewal_id=renewal["id"], expected_version=1,
                              stage="proposal_sent", forecast_amount="76000")
        stale = await call_error(client, "update_renewal", renewal_id=renewal["id"], expected_version=1,
                                 stage="verbal_commit")
        unfinished = await call_error(client, "update_renewal", renewal_id=renewal["id"], expected_version=2,
                                      stage="closed_won")
        won = await call_ok(client, "update_renewal", renewal_id=renewal["id"], expected_version=2,
                            stage="closed_won", final_amount="90000")
        after = await call_ok(client, "get_account", account_id=account["id"])
    assert (moved["stage"], moved["forecast_amount"]) == ("proposal_sent", "76000.00")
    assert "at version 2" in stale and "needs final_amount" in unfinished
    assert won["booking_type"] == "expansion"
    assert (after["account"]["arr"], after["open_renewal"]["due_date"]) == ("90000.00", "2028-01-10")


async def test_at_risk_renewals_this_quarter_by_amount(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        await _account(client, name="Small")
        await call_ok(client, "create_account", name="Big", segment="enterprise", arr="500000",
                      renewal_date="2026-12-20")
        page = await call_ok(client, "list_renewals", owner="me", within_days=90, sort="amount_desc")
    assert [row["account_name"] for row in page["items"]] == ["Big", "Small"]


async def test_tasks_are_created_reassigned_and_completed(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await _account(client)
        task = await call_ok(client, "create_task", account_id=account["id"], title="Schedule the QBR",
                             due_date="2026-11-30", priority="high")
        reassigned = await call_ok(client, "update_task", task_id=task["id"], assignee="ben@example.com")
        mine = await call_ok(client, "list_tasks")
    async with connect("ben") as client:
        bens = await call_ok(client, "list_tasks")
        done = await call_ok(client, "update_task", task_id=task["id"], status="done", expected_version=2)
        left = await call_ok(client, "list_tasks")
        refused = await call_error(client, "create_task", account_id=account["id"], title="Not mine")
        bad_date = await call_error(client, "create_task", account_id=account["id"], title="x", due_date="soon")
    assert reassigned["assignee"] == "ben@example.com" and mine["total"] == 0
    assert [t["title"] for t in bens["items"]] == ["Schedule the QBR"]
    assert done["status"] == "done" and left["total"] == 0
    assert "does not own" in refused and "due_date" in bad_date


async def test_dates_in_the_past_are_refused_with_today_named_and_nothing_changes(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Dated Co", segment="smb", arr="12000",
                                renewal_date="2027-02-01")
        long_ago = await call_error(client, "create_task", account_id=account["id"], title="Call",
                                    due_date="2020-01-01")
        # Yesterday in UTC may still be today where the CSM is: accepted (and shown overdue).
        yesterday = await call_ok(client, "create_task", account_id=account["id"], title="Call",
                                  due_date="2026-11-22")
        moved_back = await call_error(client, "update_task", task_id=yesterday["id"], due_date="2026-11-01")
        renewal_back = await call_error(client, "update_account", account_id=account["id"],
                                        expected_version=account["version"], renewal_date="2025-12-31")
        view = await call_ok(client, "get_account", account_id=account["id"])
        tasks = await call_ok(client, "list_tasks", account_id=account["id"])
    assert "due_date 2020-01-01 is in the past (today is 2026-11-23): give today or a later date" in long_ago
    assert yesterday["due_date"] == "2026-11-22"
    assert "due_date 2026-11-01 is in the past (today is 2026-11-23)" in moved_back
    assert "renewal_date 2025-12-31 is in the past (today is 2026-11-23)" in renewal_back
    assert "closed with update_renewal" in renewal_back
    assert view["open_renewal"]["due_date"] == "2027-02-01" and view["account"]["version"] == account["version"]
    assert [(t["title"], t["due_date"]) for t in tasks["items"]] == [("Call", "2026-11-22")]


async def test_notifications_are_listed_and_marked_read(connect: ClientFactory, main_db) -> None:  # noqa: ANN001
    from store.crm.notifications import notify
    from tests.conftest import NOW

    async with main_db.write() as session:
        await notify(session, user_id=main_db.principals["ana"].user_id, account_id=None, kind="early_warning",
                     message="Acme dropped to needs_attention", now=NOW)
    async with connect("ana") as client:
        unread = await call_ok(client, "list_notifications", mark_read=True)
        again = await call_ok(client, "list_notifications")
    async with connect("ben") as client:
        bens = await call_ok(client, "list_notifications")
    assert [n["message"] for n in unread["items"]] == ["Acme dropped to needs_attention"]
    assert again["total"] == 0 and bens["total"] == 0
