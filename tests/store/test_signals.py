"""Signals computed from a seeded store, as of a pinned moment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from store.crm.activity import add_health_note, log_touchpoint
from store.crm.contacts import upsert_contact
from store.crm.renewals import update_renewal
from store.database.models import Renewal, SupportTicket, SurveyResponse, UsageSnapshot
from store.health.model import HealthModel, default_model, parse_model_text
from store.health.signals import SignalSet, load_signal_sets
from tests.conftest import NOW, Db
from tests.factories import make_account


async def _signals(db: Db, account_id: int, model: HealthModel | None = None) -> SignalSet:
    async with db.read() as session:
        sets = await load_signal_sets(session, [account_id], as_of=NOW, model=model or default_model())
    return sets[account_id][1]


async def _seed_declining_account(db: Db) -> int:
    account = await make_account(db, arr="100000", seats=100, segment="mid_market", renewal_date=date(2026, 12, 20),
                                 contract_start=date(2024, 12, 20), onboarding_status="completed")
    ana = db.principals["ana"]
    async with db.write() as session:
        await log_touchpoint(session, principal=ana, now=NOW, account_id=account.id, kind="email_out",
                             summary="Monthly summary", occurred_at=NOW - timedelta(days=38))
        await log_touchpoint(session, principal=ana, now=NOW, account_id=account.id, kind="meeting",
                             summary="Working session", occurred_at=NOW - timedelta(days=95))
        await log_touchpoint(session, principal=ana, now=NOW, account_id=account.id, kind="email_in",
                             summary="They wrote to us", occurred_at=NOW - timedelta(days=1))
        await upsert_contact(session, principal=ana, now=NOW, account_id=account.id, name="Pat Lee",
                             email="pat@acme.com", role="executive_sponsor", is_primary_sponsor=True)
        # Monthly usage: 1000, 1000, 1000, then 400 this month; adoption falls from 5 to 3 features.
        for month, (count, active, features) in enumerate([(1000, 90, 5), (1000, 90, 5), (1000, 85, 5),
                                                           (400, 40, 3)]):
            session.add(UsageSnapshot(account_id=account.id, period_start=date(2026, 8 + month, 1),
                                      usage_count=count, active_users=active, features_adopted=features))
        session.add(SupportTicket(account_id=account.id, subject="Export broken", opened_at=NOW - timedelta(days=10),
                                  due_at=NOW - timedelta(days=8), priority="high", escalated=True))
        session.add(SupportTicket(account_id=account.id, subject="Old", opened_at=NOW - timedelta(days=60),
                                  due_at=NOW - timedelta(days=58), closed_at=NOW - timedelta(days=59),
                                  priority="low"))
        session.add(SurveyResponse(account_id=account.id, kind="nps", score=9, responded_at=NOW - timedelta(days=200)))
        session.add(SurveyResponse(account_id=account.id, kind="nps", score=4, comment="Exports keep failing",
                                   responded_at=NOW - timedelta(days=5)))
    async with db.write() as session:
        renewal = await session.scalar(select(Renewal.id).where(Renewal.account_id == account.id))
        await update_renewal(session, principal=ana, now=NOW, renewal_id=renewal, expected_version=1,
                             forecast_amount="80000")
    return account.id


async def test_signals_read_the_accounts_story_with_evidence(db: Db) -> None:
    account_id = await _seed_declining_account(db)
    signals = await _signals(db, account_id)
    graded = {s.id: (s.value, s.grade) for s in signals.signals}
    assert graded == {
        "contact.days_since_outbound": (38, "fair"),
        "contact.days_since_meeting": (95, "poor"),
        "sponsor.primary": ("present", "good"),
        "usage.trend_vs_90d": (-0.6, "poor"),
        "usage.month_over_month": (-0.6, "poor"),
        "usage.seat_utilisation": (0.4, "poor"),
        "usage.adoption_breadth": (3, "poor"),
        "support.overdue_tickets": (1, "fair"),
        "support.escalations": (1, "poor"),
        "survey.nps": (4, "poor"),
        "renewal.days_to_renewal": (27, "poor"),
        "renewal.forecast_vs_target": (0.8, "poor"),
        "onboarding.first_value": ("completed", "good"),
        # Two tickets in 90 days on 100 seats.
        "support.volume": (0.2, "good"),
        "support.ticket_csat": (None, "unknown"),
        "survey.csat": (None, "unknown"),
        # The touchpoints name nobody, so who was engaged is not known.
        "contact.multithreading": (None, "unknown"),
        # The email sent 38 days ago had no reply within 14 days (the one received came 37 days later).
        "contact.outreach_response": (0.0, "poor"),
        # Onboarded, and no success plan written down.
        "plan.progress": ("none", "fair"),
    }
    evidence = {s.id: s.evidence for s in signals.signals}
    assert evidence["usage.trend_vs_90d"] == ("Usage 400 in the month of 2026-11-01 vs 1,000 average of the prior "
                                              "3 months (-60%).")
    assert evidence["contact.days_since_outbound"] == "Last outbound contact 38 days ago (2026-10-16)."
    assert evidence["survey.nps"] == "Latest NPS 4 (detractor) on 2026-11-18."


async def test_thresholds_are_configurable(db: Db) -> None:
    account_id = await _seed_declining_account(db)
    relaxed = parse_model_text("[thresholds]\noutbound_warn_days = 40\noutbound_critical_days = 60\n"
                               "meeting_critical_days = 120\nmeeting_warn_days = 100\n", "relaxed.toml")
    signals = await _signals(db, account_id, relaxed)
    assert signals.get("contact.days_since_outbound").grade == "good"
    assert signals.get("contact.days_since_meeting").grade == "good"


async def test_a_departed_primary_sponsor_and_a_missing_one(db: Db) -> None:
    account = await make_account(db, name="Sponsorless")
    # No contacts at all: who sponsors it is not known, which is missing data, not a fair grade.
    assert (await _signals(db, account.id)).get("sponsor.primary").grade == "unknown"
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id, name="Lee Day",
                             email="lee@acme.com", role="user")
    assert (await _signals(db, account.id)).get("sponsor.primary").grade == "fair"
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id, name="Kim Roe",
                             email="kim@acme.com", is_primary_sponsor=True, role="executive_sponsor")
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                             email="kim@acme.com", left_company_on=date(2026, 11, 2), expected_version=1)
    sponsor = (await _signals(db, account.id)).get("sponsor.primary")
    assert (sponsor.value, sponsor.grade, sponsor.evidence) == ("left", "poor",
                                                                "Primary sponsor Kim Roe left on 2026-11-02.")


async def test_the_digest_ignores_one_more_quiet_day_but_not_a_new_note(db: Db) -> None:
    account_id = await _seed_declining_account(db)
    async with db.read() as session:
        today = (await load_signal_sets(session, [account_id], as_of=NOW, model=default_model()))[account_id][1]
        tomorrow = (await load_signal_sets(session, [account_id], as_of=NOW + timedelta(days=1),
                                           model=default_model()))[account_id][1]
    assert today.get("contact.days_since_outbound").value == 38
    assert tomorrow.get("contact.days_since_outbound").value == 39
    assert today.digest == tomorrow.digest
    async with db.write() as session:
        await add_health_note(session, principal=db.principals["ana"], now=NOW, account_id=account_id,
                              body="Champion is leaving in January.")
    assert (await _signals(db, account_id)).digest != today.digest


async def test_onboarding_late_against_the_segments_allowance(db: Db) -> None:
    account = await make_account(db, name="New Co", segment="smb", contract_start=date(2026, 9, 1),
                                 renewal_date=date(2027, 9, 1), onboarding_status="in_progress")
    onboarding = (await _signals(db, account.id)).get("onboarding.first_value")
    assert onboarding.grade == "poor"
    assert onboarding.evidence == ("Onboarding in progress, 83 days since contract start (first value expected "
                                   "within 30 days).")
    patient = parse_model_text("[segments.smb.thresholds]\nonboarding_first_value_days = 90\n", "patient.toml")
    assert (await _signals(db, account.id, patient)).get("onboarding.first_value").grade == "fair"
    # The override is the smb segment's alone.
    mid = await make_account(db, name="Mid Co", segment="mid_market", contract_start=date(2026, 9, 1),
                             renewal_date=date(2027, 9, 1), onboarding_status="in_progress")
    assert (await _signals(db, mid.id, patient)).get("onboarding.first_value").grade == "poor"


async def _usage_signal(db: Db, account_id: int, as_of_day: int) -> tuple[float | None, str]:
    as_of = NOW.replace(day=as_of_day)
    async with db.read() as session:
        sets = await load_signal_sets(session, [account_id], as_of=as_of, model=default_model())
    signal = next(s for s in sets[account_id][1].signals if s.id == "usage.trend_vs_90d")
    return signal.value, signal.evidence


async def test_a_month_still_counted_from_live_events_is_judged_by_its_pace(db: Db) -> None:
    account = await make_account(db, seats=10)
    async with db.write() as session:
        for month in (8, 9, 10):
            session.add(UsageSnapshot(account_id=account.id, period_start=date(2026, month, 1), usage_count=3000,
                                      active_users=8, features_adopted=4))
        # November so far: 1,000 events by the 10th is on pace for 3,000 in the month.
        session.add(UsageSnapshot(account_id=account.id, period_start=date(2026, 11, 1), usage_count=1000,
                                  active_users=8, features_adopted=4, running=True))
    change, evidence = await _usage_signal(db, account.id, as_of_day=10)
    assert change == 0.0
    assert "on pace from 1,000 in its first 10 days" in evidence
    # In its first days a running month says too little: October is judged instead.
    change, evidence = await _usage_signal(db, account.id, as_of_day=3)
    assert change == 0.0 and "month of 2026-10-01" in evidence
    # A month from a file (not running) is read as whole: a third of the usage is a drop.
    async with db.write() as session:
        snapshot = await session.scalar(select(UsageSnapshot).where(UsageSnapshot.account_id == account.id,
                                                                    UsageSnapshot.period_start == date(2026, 11, 1)))
        snapshot.running = False
    change, _ = await _usage_signal(db, account.id, as_of_day=10)
    assert change == pytest.approx(-0.667, abs=0.001)


async def test_an_account_with_no_contact_history_has_it_missing_not_poor(db: Db) -> None:
    account = await make_account(db, name="Imported Co")
    signals = await _signals(db, account.id)
    for signal_id in ("contact.days_since_outbound", "contact.days_since_meeting", "contact.multithreading",
                      "contact.outreach_response", "sponsor.primary", "usage.trend_vs_90d", "survey.nps",
                      "survey.csat"):
        assert signals.get(signal_id).grade == "unknown" and signals.get(signal_id).points is None, signal_id
    assert "log touchpoints or import them" in signals.get("contact.days_since_outbound").evidence


async def test_people_engaged_and_replies_to_outreach(db: Db) -> None:
    account = await make_account(db, name="Threads Co", seats=20)
    ana = db.principals["ana"]
    async with db.write() as session:
        champion = await upsert_contact(session, principal=ana, now=NOW, account_id=account.id, name="Pat Lee",
                                        email="pat@threads.com", role="champion")
        sponsor = await upsert_contact(session, principal=ana, now=NOW, account_id=account.id, name="Sam Roe",
                                       email="sam@threads.com", role="executive_sponsor")
    async with db.write() as session:
        for kind, days, contact in (("email_out", 40, champion), ("email_in", 37, champion),
                                    ("email_out", 20, champion), ("email_out", 5, champion)):
            await log_touchpoint(session, principal=ana, now=NOW, account_id=account.id, kind=kind,
                                 summary="Email", occurred_at=NOW - timedelta(days=days), contact_id=contact.id)
    signals = await _signals(db, account.id)
    threads, replies = signals.get("contact.multithreading"), signals.get("contact.outreach_response")
    assert (threads.value, threads.grade) == (1, "poor")
    assert threads.evidence == "Single-threaded: 1 person at the customer engaged in the last 90 days (champion)."
    # Of three emails out, the first had a reply three days later; the others none (yet).
    assert (replies.value, replies.grade) == (0.333, "fair")
    async with db.write() as session:
        await log_touchpoint(session, principal=ana, now=NOW, account_id=account.id, kind="meeting",
                             summary="QBR prep", occurred_at=NOW - timedelta(days=2), contact_id=sponsor.id)
    threads = (await _signals(db, account.id)).get("contact.multithreading")
    assert (threads.value, threads.grade) == (2, "fair")
    assert "(champion, executive sponsor)" in threads.evidence or "(executive sponsor, champion)" in threads.evidence


async def test_support_load_per_ten_seats_and_ticket_ratings(db: Db) -> None:
    account = await make_account(db, name="Loud Co", seats=10)
    async with db.write() as session:
        for days, csat in ((5, None), (20, 2), (40, 3), (80, None), (120, 5)):
            session.add(SupportTicket(account_id=account.id, subject=f"Ticket {days}",
                                      opened_at=NOW - timedelta(days=days), priority="normal", csat=csat,
                                      closed_at=NOW - timedelta(days=days - 1)))
    signals = await _signals(db, account.id)
    volume, rating = signals.get("support.volume"), signals.get("support.ticket_csat")
    # Four tickets in 90 days on 10 seats: four per 10 seats, the critical level.
    assert (volume.value, volume.grade) == (4.0, "poor")
    assert volume.evidence == "4 support tickets opened in the last 90 days (4.0 per 10 seats)."
    # Rated 2, 3 and 5 in the last 180 days.
    assert (rating.value, rating.grade) == (3.33, "fair")
    assert volume.points < signals.get("support.overdue_tickets").points


async def test_a_ticket_closed_since_counts_as_open_at_the_moment_asked_about(db: Db) -> None:
    account = await make_account(db, name="Then Co")
    async with db.write() as session:
        session.add(SupportTicket(account_id=account.id, subject="Escalated", opened_at=NOW - timedelta(days=30),
                                  closed_at=NOW - timedelta(days=5), priority="high", escalated=True))
    async with db.read() as session:
        then = (await load_signal_sets(session, [account.id], as_of=NOW - timedelta(days=10),
                                       model=default_model()))[account.id][1]
    assert then.get("support.escalations").value == 1
    assert (await _signals(db, account.id)).get("support.escalations").value == 0


async def _planned_account(db: Db, name: str) -> int:
    from store.crm.success_plans import PlanChange, update_success_plan

    account = await make_account(db, name=name, onboarding_status="completed", contract_start=date(2026, 1, 1))
    ana = db.principals["ana"]

    async def change(**fields: object) -> int:
        async with db.write() as session:
            plan = await update_success_plan(session, principal=ana, now=NOW, account_id=account.id,
                                             change=PlanChange(**fields))  # type: ignore[arg-type]
        return plan.version

    version = await change(action="start", title="Faster close", starts_on=date(2026, 7, 1))
    version = await change(action="set_outcome", expected_version=version, description="Close in 3 days",
                           metric="Days to close", unit="days", baseline="10", target="3",
                           target_date=date(2026, 12, 31))
    return account.id


async def test_plan_progress_reads_outcomes_against_the_time_elapsed_and_milestones(db: Db) -> None:
    from store.crm.success_plans import PlanChange, active_plan, update_success_plan

    account_id = await _planned_account(db, "Plan Co")
    async with db.read() as session:
        plan = await active_plan(session, account_id, today=NOW.date())

    async def change(**fields: object) -> None:
        nonlocal plan
        async with db.write() as session:
            plan = await update_success_plan(session, principal=db.principals["ana"], now=NOW, account_id=account_id,
                                             change=PlanChange(expected_version=plan.version, **fields))  # type: ignore[arg-type]

    signal = (await _signals(db, account_id)).get("plan.progress")
    assert (signal.value, signal.grade) == ("on_track", "good")
    # Five of six months gone, a seventh of the way from 10 to 3 days: behind.
    await change(action="record_value", outcome_id=plan.outcomes[0].id, value="9")
    signal = (await _signals(db, account_id)).get("plan.progress")
    assert (signal.value, signal.grade) == ("behind", "fair")
    assert "Days to close behind the time elapsed" in signal.evidence
    await change(action="record_value", outcome_id=plan.outcomes[0].id, value="3")
    signal = (await _signals(db, account_id)).get("plan.progress")
    assert (signal.value, signal.grade) == ("achieved", "good")
    assert "1 of 1 outcomes achieved; Days to close 10 → 3 days (target 3)" in signal.evidence
    await change(action="add_milestone", title="Train the second team", target_date=NOW.date() - timedelta(days=15))
    signal = (await _signals(db, account_id)).get("plan.progress")
    assert (signal.value, signal.grade) == ("at_risk", "poor")
    assert "milestone 'Train the second team' 15 days overdue" in signal.evidence


async def test_no_plan_is_fair_past_onboarding_and_unknown_during_it(db: Db) -> None:
    onboarded = await make_account(db, name="Done Co", onboarding_status="completed")
    onboarding = await make_account(db, name="New Co", onboarding_status="in_progress")
    assert (await _signals(db, onboarded.id)).get("plan.progress").grade == "fair"
    assert (await _signals(db, onboarding.id)).get("plan.progress").grade == "unknown"
