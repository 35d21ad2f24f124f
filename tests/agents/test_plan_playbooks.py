"""The success plan's playbooks: a milestone well overdue, an outcome achieved, a renewal with nothing
achieved — each once however often the cycle runs, and the value review cites the outcome's figures."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from agents.cycle import run_cycle
from store.crm.contacts import upsert_contact
from store.crm.success_plans import PlanChange, update_success_plan
from store.database.models import Draft, Notification, Task
from tests.agents.conftest import deps_for
from tests.conftest import NOW, Db
from tests.factories import make_account


async def _account_with_plan(db: Db) -> int:
    account = await make_account(db, name="Achiever Co", onboarding_status="completed",
                                 contract_start=date(2025, 3, 1), renewal_date=NOW.date() + timedelta(days=200))
    ana = db.principals["ana"]
    async with db.write() as session:
        await upsert_contact(session, principal=ana, now=NOW, account_id=account.id, name="Sam Roe",
                             email="sam@achiever.com", role="executive_sponsor", is_primary_sponsor=True)
    version, outcome_id = None, None
    for fields in ({"action": "start", "title": "2026 goals", "starts_on": date(2026, 3, 1)},
                   {"action": "set_outcome", "description": "Close the books in 3 days instead of 10",
                    "metric": "Days to close", "unit": "days", "baseline": "10", "target": "3",
                    "target_date": date(2026, 12, 31)},
                   {"action": "record_value", "outcome_id": 0, "value": "3"},
                   {"action": "add_milestone", "title": "Roll out to the Berlin team",
                    "target_date": NOW.date() - timedelta(days=20)}):
        async with db.write() as session:
            if fields.get("outcome_id") == 0:
                fields = {**fields, "outcome_id": outcome_id}
            plan = await update_success_plan(session, principal=ana, now=NOW, account_id=account.id,
                                             change=PlanChange(expected_version=version, **fields))  # type: ignore[arg-type]
            version, outcome_id = plan.version, plan.outcomes[0].id if plan.outcomes else None
    return account.id


async def test_plan_playbooks_fire_once_each_and_the_value_review_cites_the_outcome(db: Db) -> None:
    achiever = await _account_with_plan(db)
    renewing = await make_account(db, name="Renewing Co", onboarding_status="completed",
                                  contract_start=date(2025, 3, 1), renewal_date=NOW.date() + timedelta(days=100))
    await run_cycle(deps_for(db))
    await run_cycle(deps_for(db), force=True)
    await run_cycle(deps_for(db), force=True)
    async with db.read() as session:
        tasks = list(await session.scalars(select(Task.title).where(Task.dedupe_key.like("pb:milestone_overdue:%"))))
        drafts = list(await session.scalars(select(Draft).where(Draft.dedupe_key.like("pbd:value_review:%:outcome:%"))))
        warned = list(await session.scalars(select(Notification).where(
            Notification.kind == "renewal_without_outcome")))
    assert tasks == ["Milestone 'Roll out to the Berlin team' at Achiever Co is 20 days overdue: agree a new date "
                     "or unblock it"]
    assert len(drafts) == 1 and drafts[0].account_id == achiever
    assert ("You set out to close the books in 3 days instead of 10, and you got there: Days to close went from 10 "
            "to 3 days.") in drafts[0].body
    # The renewing account has no plan; the owner and the manager are told once.
    assert {n.account_id for n in warned} == {renewing.id} and len(warned) == 2
    assert "renews in 100 days with no success-plan outcome achieved (it has no success plan)" in warned[0].message
