"""Success plans in the store: one active plan, outcomes with metrics, milestones, versions, ownership and the
bad input that is refused with nothing written."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from store.crm.contacts import upsert_contact
from store.crm.success_plans import PlanChange, active_plan, update_success_plan
from store.database.models import AuditEvent, PlanOutcome, SuccessPlan
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from store.schemas import SuccessPlanOut
from tests.conftest import NOW, Db
from tests.factories import make_account

TODAY = NOW.date()


async def _change(db: Db, account_id: int, who: str = "ana", **fields: object) -> SuccessPlanOut:
    async with db.write() as session:
        return await update_success_plan(session, principal=db.principals[who], now=NOW, account_id=account_id,
                                         change=PlanChange(**fields))  # type: ignore[arg-type]


async def _plan_with_outcome(db: Db) -> tuple[int, SuccessPlanOut]:
    account = await make_account(db)
    plan = await _change(db, account.id, action="start", title="2027 goals", starts_on=date(2026, 10, 1))
    plan = await _change(db, account.id, action="set_outcome", expected_version=plan.version,
                         description="Close the books in 3 days instead of 10", metric="Days to close", unit="days",
                         baseline="10", target="3", target_date=date(2027, 3, 31), owner="me")
    return account.id, plan


async def test_a_plan_gathers_outcomes_values_and_milestones_under_one_version(db: Db) -> None:
    account_id, plan = await _plan_with_outcome(db)
    outcome = plan.outcomes[0]
    assert (plan.title, plan.status, plan.version, outcome.owner) == ("2027 goals", "active", 2, "ana@example.com")
    assert (outcome.baseline, outcome.target, outcome.status, outcome.progress) == (
        Decimal("10"), Decimal("3"), "on_track", None)
    plan = await _change(db, account_id, action="record_value", expected_version=2, outcome_id=outcome.id, value="6",
                         unit="days")
    assert (plan.outcomes[0].current_value, plan.outcomes[0].progress, plan.version) == (Decimal("6"), 0.571, 3)
    plan = await _change(db, account_id, action="add_milestone", expected_version=3, title="Automate reconciliation",
                         target_date=TODAY - timedelta(days=3), outcome_id=outcome.id)
    assert plan.milestones[0].overdue_days == 3
    plan = await _change(db, account_id, action="complete_milestone", expected_version=4,
                         milestone_id=plan.milestones[0].id, on=TODAY - timedelta(days=1))
    assert (plan.milestones[0].completed_on, plan.milestones[0].overdue_days) == (TODAY - timedelta(days=1), None)
    # Reaching the target marks the outcome achieved on the day it was measured.
    plan = await _change(db, account_id, action="record_value", expected_version=5, outcome_id=outcome.id, value="3")
    assert (plan.outcomes[0].status, plan.outcomes[0].achieved_on, plan.outcomes[0].progress) == (
        "achieved", TODAY, 1.0)
    async with db.read() as session:
        shown = await active_plan(session, account_id, today=TODAY)
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "success_plan")
                                             .order_by(AuditEvent.id)))
    assert shown == plan
    assert actions == ["success_plan.start", "success_plan.set_outcome", "success_plan.record_value",
                       "success_plan.add_milestone", "success_plan.complete_milestone", "success_plan.record_value"]


async def test_a_stale_version_is_a_conflict_and_a_new_plan_closes_the_old_one(db: Db) -> None:
    account_id, plan = await _plan_with_outcome(db)
    with pytest.raises(Conflict, match="at version 2, you sent expected_version 1"):
        await _change(db, account_id, action="close", expected_version=1)
    with pytest.raises(Conflict, match="already has an active plan"):
        await _change(db, account_id, action="start", title="Next year")
    second = await _change(db, account_id, action="start", title="Next year", expected_version=2)
    async with db.read() as session:
        statuses = dict((await session.execute(select(SuccessPlan.id, SuccessPlan.status))).all())
    assert statuses == {plan.id: "closed", second.id: "active"} and second.outcomes == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"action": "set_outcome", "description": "Faster", "metric": "Days", "unit": "days", "baseline": "5",
      "target": "5", "target_date": date(2027, 1, 1)}, "target (5) equals baseline"),
    ({"action": "set_outcome", "description": "Faster", "metric": "Days", "unit": "days", "baseline": "9",
      "target": "5", "target_date": date(2026, 9, 1)}, "target_date 2026-09-01 is before the plan starts (2026-10-01)"),
    ({"action": "set_outcome", "description": "Faster"}, "a new outcome needs metric, unit, baseline, target"),
    ({"action": "record_value", "outcome_id": "first", "value": "5", "unit": "hours"},
     "value is in 'hours', but Days to close is measured in 'days'"),
    ({"action": "record_value", "outcome_id": "first", "value": "5", "on": TODAY + timedelta(days=2)},
     "is in the future"),
    ({"action": "record_value", "outcome_id": "first", "value": "five"}, "value must be a number"),
    ({"action": "add_milestone", "title": "Go live"}, "add_milestone needs title and target_date"),
    ({"action": "set_outcome", "outcome_id": "first", "owner": "pat@elsewhere.com"},
     "is a contact of another account"),
    ({"action": "set_outcome", "outcome_id": "first", "status": "great"}, "status must be one of on_track"),
    ({"action": "promote"}, "action must be one of start"),
])
async def test_bad_input_is_refused_with_the_reason_and_nothing_written(db: Db, fields: dict, message: str) -> None:
    account_id, plan = await _plan_with_outcome(db)
    other = await make_account(db, name="Elsewhere")
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=other.id, name="Pat",
                             email="pat@elsewhere.com", role="champion")
    if fields.get("outcome_id") == "first":
        fields = {**fields, "outcome_id": plan.outcomes[0].id}
    async with db.read() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(InvalidInput, match=re.escape(message)):
        await _change(db, account_id, expected_version=plan.version, **fields)
    async with db.read() as session:
        after = await session.scalar(select(func.count()).select_from(AuditEvent))
        outcome = await session.get(PlanOutcome, plan.outcomes[0].id)
        current = await active_plan(session, account_id, today=TODAY)
    assert before == after and current == plan and outcome.current_value is None


async def test_a_milestone_completed_in_the_future_is_refused(db: Db) -> None:
    account_id, plan = await _plan_with_outcome(db)
    plan = await _change(db, account_id, action="add_milestone", expected_version=plan.version, title="Kickoff",
                         target_date=TODAY)
    with pytest.raises(InvalidInput, match="completed on .* is in the future"):
        await _change(db, account_id, action="complete_milestone", expected_version=plan.version,
                      milestone_id=plan.milestones[0].id, on=TODAY + timedelta(days=1))


async def test_only_the_owner_or_a_manager_edits_a_plan_and_a_customer_contact_can_own_an_outcome(db: Db) -> None:
    account_id, plan = await _plan_with_outcome(db)
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account_id, name="Kim Roe",
                             email="kim@acme.com", role="champion")
    with pytest.raises(Forbidden, match="does not own account"):
        await _change(db, account_id, who="ben", action="close", expected_version=plan.version)
    plan = await _change(db, account_id, who="morgan", action="set_outcome", expected_version=plan.version,
                         outcome_id=plan.outcomes[0].id, owner="kim@acme.com")
    assert plan.outcomes[0].owner == "Kim Roe"
    with pytest.raises(NotFound, match="has no active success plan"):
        other = await make_account(db, name="Planless")
        await _change(db, other.id, action="close", expected_version=1)
