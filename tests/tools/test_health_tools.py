from datetime import date, timedelta

from store.database.models import SupportTicket, SurveyResponse, UsageSnapshot
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
    # An escalation and a detractor: two poor critical signals hold the status at at_risk; the score falls
    # by their weight in the evidence.
    assert (second["status"], second["trend"]) == ("at_risk", "declining") and second["score"] < first["score"]
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


async def test_list_accounts_filters_and_sorts_by_confidence(connect: ClientFactory, main_db: Db) -> None:
    async with connect("ana") as client:
        bare = await call_ok(client, "create_account", name="Bare Co", segment="smb", arr="5000")
        known = await call_ok(client, "create_account", name="Known Co", segment="smb", arr="1000", seats=10)
    async with main_db.write() as session:
        for days, score in ((20, 9), (200, 8)):
            session.add(SurveyResponse(account_id=known["id"], kind="nps", score=score,
                                       responded_at=NOW - timedelta(days=days)))
        session.add(SurveyResponse(account_id=known["id"], kind="csat", score=5, responded_at=NOW))
        for month in (8, 9, 10, 11):
            session.add(UsageSnapshot(account_id=known["id"], period_start=date(2026, month, 1), usage_count=900,
                                      active_users=9, features_adopted=6))
    async with connect("ana") as client:
        pat = await call_ok(client, "upsert_contact", account_id=known["id"], name="Pat Lee", email="pat@known.co",
                            role="champion", is_primary_sponsor=True)
        await call_ok(client, "log_touchpoint", account_id=known["id"], kind="meeting", summary="Review",
                      contact_id=pat["id"])
        for account in (bare, known):
            await call_ok(client, "assess_account", account_id=account["id"])
        low = await call_ok(client, "list_accounts", confidence=["low"])
        by_confidence = await call_ok(client, "list_accounts", sort="confidence")
        bad = await call_error(client, "list_accounts", confidence=["certain"])
    assert [row["name"] for row in low["items"]] == ["Bare Co"] and low["items"][0]["health_confidence"] == "low"
    assert [row["health_confidence"] for row in by_confidence["items"]] == ["low", "high"]
    # Least data first; the bare account leads although its ARR is higher either way.
    assert by_confidence["items"][0]["name"] == "Bare Co"
    assert "certain" in bad
