from datetime import timedelta

from store.database.models import SupportTicket, SurveyResponse
from tests.conftest import NOW, ClientFactory, Db
from tests.tools.helpers import call_error, call_ok


async def test_assess_account_returns_the_assessment_and_the_360_shows_it_with_history(
        connect: ClientFactory, main_db: Db) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Acme Corp", segment="smb", arr="20000",
                                renewal_date="2027-06-01")
        first = await call_ok(client, "assess_account", account_id=account["id"])
    async with main_db.write() as session:
        session.add(SupportTicket(account_id=account["id"], subject="Outage", opened_at=NOW - timedelta(days=2),
                                  due_at=NOW - timedelta(days=1), priority="urgent", escalated=True))
        session.add(SurveyResponse(account_id=account["id"], kind="nps", score=3, responded_at=NOW))
    async with connect("ana") as client:
        second = await call_ok(client, "assess_account", account_id=account["id"])
        view = await call_ok(client, "get_account", account_id=account["id"])
        listed = await call_ok(client, "list_accounts", owner="me")
        notes = await call_ok(client, "list_notifications")
    assert first["method"].startswith("rules/") and first["trend"] == "new"
    # An escalation and a detractor: two poor critical signals hold it under at_risk's top.
    assert (second["status"], second["trend"]) == ("at_risk", "declining") and second["score"] < 40
    # The weak signals that cost the most points lead: the detractor (NPS weighs more) and the escalation.
    assert [d["signal"] for d in second["drivers"][:2]] == ["survey.nps", "support.escalations"]
    assert view["assessment"]["status"] == "at_risk" and view["assessment"]["next_actions"]
    assert [point["status"] for point in view["health_history"]] == ["at_risk", first["status"]]
    assert (listed["items"][0]["health_status"], listed["items"][0]["health_trend"]) == ("at_risk", "declining")
    assert {n["kind"] for n in notes["items"]} >= {"at_risk", "early_warning"}


async def test_assess_account_refuses_unknown_and_churned_accounts(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Gone Co", segment="smb", arr="1000")
        await call_ok(client, "update_account", account_id=account["id"], expected_version=1, status="churned")
        churned = await call_error(client, "assess_account", account_id=account["id"])
        unknown = await call_error(client, "assess_account", account_id=4040)
    assert "is churned; only active accounts are assessed" in churned
    assert "no account with id 4040" in unknown
