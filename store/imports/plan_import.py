"""Importing success plans: each row is an outcome or a milestone of a plan, written through the same
service the `update_success_plan` tool uses, so every rule (target unlike baseline, dates inside the plan,
owners of this account) holds for a file too.

A plan is known by its `plan_id` (the id in the tool the file came from), else by its title among the
account's plans; an outcome by its `outcome_id`, else its text, within the plan; a milestone likewise by
`milestone_id`, else its title. A re-import with new values updates; one with the same values changes
nothing. A row naming a plan other than the account's active one starts it (closing the active one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth.principals import Principal
from store.crm.success_plans import PlanChange, update_success_plan
from store.database.models import Contact, PlanMilestone, PlanOutcome, SuccessPlan, User
from store.errors import InvalidInput
from store.imports.account_index import AccountIndex
from store.imports.fields import RowFields
from store.imports.sources import Row
from store.vocabulary import OUTCOME_STATUSES

PLAN_COLUMNS = ("plan_id", "plan_start", "outcome", "outcome_id", "metric", "unit", "baseline", "target", "current",
                "measured_on", "target_date", "status", "owner", "milestone", "milestone_id", "due", "completed")


async def plan_row(session: AsyncSession, row: Row, *, principal: Principal, now: datetime, index: AccountIndex,
                   users: dict[str, str], create_missing: bool = False) -> tuple[str, int]:
    fields = RowFields(row.values)
    problems = row.problems()
    account = index.account_of(fields, problems)
    wanted = _read(fields)
    problems += fields.problems
    if wanted["outcome"] is None and wanted["outcome_id"] is None and wanted["milestone"] is None:
        problems.append("a row is an outcome (outcome, metric, unit, baseline, target, target_date) or a milestone "
                        "(milestone, due); this one is neither")
    if wanted["milestone"] is not None and wanted["outcome"] is not None:
        problems.append("a row is an outcome or a milestone, not both")
    if problems or account is None:
        raise InvalidInput("; ".join(problems))
    plan, started = await _plan(session, principal, now, account.id, wanted)
    if wanted["milestone"] is not None:
        outcome = await _milestone(session, principal, now, account.id, plan, wanted)
    else:
        outcome = await _outcome(session, principal, now, account.id, plan, wanted)
    return ("inserted" if started and outcome == "unchanged" else outcome), account.id


def _read(fields: RowFields) -> dict[str, Any]:
    day = fields.day
    return {
        "plan": fields.text("plan", max_length=200, required=True), "plan_id": fields.text("plan_id", max_length=200),
        "plan_start": day("plan_start"), "outcome": fields.text("outcome", max_length=1000),
        "outcome_id": fields.text("outcome_id", max_length=200), "metric": fields.text("metric", max_length=120),
        "unit": fields.text("unit", max_length=30), "baseline": fields.text("baseline", max_length=40),
        "target": fields.text("target", max_length=40), "current": fields.text("current", max_length=40),
        "measured_on": day("measured_on"), "target_date": day("target_date"),
        "status": fields.choice("status", OUTCOME_STATUSES), "owner": fields.text("owner", max_length=254),
        "milestone": fields.text("milestone", max_length=200),
        "milestone_id": fields.text("milestone_id", max_length=200),
        "due": day("due"), "completed": day("completed"),
    }


async def _plan(session: AsyncSession, principal: Principal, now: datetime, account_id: int,
                wanted: dict[str, Any]) -> tuple[SuccessPlan, bool]:
    """The plan the row belongs to, started when it is not the account's active one."""
    plans = list(await session.scalars(select(SuccessPlan).where(SuccessPlan.account_id == account_id)))
    named = next((p for p in plans if wanted["plan_id"] and p.external_id == wanted["plan_id"]), None) or \
        next((p for p in plans if not wanted["plan_id"] and p.title == wanted["plan"]), None)
    active = next((p for p in plans if p.status == "active"), None)
    if named is not None and named.status == "active":
        return named, False
    if named is not None:
        raise InvalidInput(f"plan {wanted['plan_id'] or wanted['plan']!r} is closed; only the active plan is "
                           "updated by an import")
    await update_success_plan(session, principal=principal, now=now, account_id=account_id, change=PlanChange(
        action="start", title=wanted["plan"], starts_on=wanted["plan_start"], external_id=wanted["plan_id"],
        expected_version=active.version if active else None))
    plan = await session.scalar(select(SuccessPlan).where(SuccessPlan.account_id == account_id,
                                                          SuccessPlan.status == "active"))
    assert plan is not None
    return plan, True


async def _outcome(session: AsyncSession, principal: Principal, now: datetime, account_id: int, plan: SuccessPlan,
                   wanted: dict[str, Any]) -> str:
    outcomes = list(await session.scalars(select(PlanOutcome).where(PlanOutcome.plan_id == plan.id)))
    existing = next((o for o in outcomes if wanted["outcome_id"] and o.external_id == wanted["outcome_id"]), None) or \
        next((o for o in outcomes if not wanted["outcome_id"] and o.description == wanted["outcome"]), None)
    edit = {"description": wanted["outcome"], "metric": wanted["metric"], "unit": wanted["unit"],
            "baseline": wanted["baseline"], "target": wanted["target"], "target_date": wanted["target_date"],
            "owner": wanted["owner"], "status": wanted["status"]}
    if existing is not None:
        current = {"description": existing.description, "metric": existing.metric_name, "unit": existing.metric_unit,
                   "baseline": str(validation.plain_number(existing.baseline)),
                   "target": str(validation.plain_number(existing.target)), "target_date": existing.target_date,
                   "status": existing.status, "owner": await _owner_email(session, existing)}
        edit = {key: value for key, value in edit.items()
                if value is not None and str(current.get(key)).lower() != str(value).lower()}
    result = "inserted" if existing is None else "unchanged"
    if existing is None or edit:
        await update_success_plan(session, principal=principal, now=now, account_id=account_id, change=PlanChange(
            action="set_outcome", expected_version=plan.version, outcome_id=existing.id if existing else None,
            external_id=wanted["outcome_id"] if existing is None else None, **edit))
        await session.refresh(plan)
        result = "inserted" if existing is None else "updated"
    if existing is None:
        existing = await session.scalar(select(PlanOutcome).where(PlanOutcome.plan_id == plan.id)
                                        .order_by(PlanOutcome.id.desc()).limit(1))
        assert existing is not None
    recorded = str(validation.plain_number(existing.current_value)) if existing.current_value is not None else None
    if wanted["current"] is not None and recorded != wanted["current"]:
        await update_success_plan(session, principal=principal, now=now, account_id=account_id, change=PlanChange(
            action="record_value", expected_version=plan.version, outcome_id=existing.id, value=wanted["current"],
            on=wanted["measured_on"]))
        await session.refresh(plan)
        result = "updated" if result == "unchanged" else result
    return result


async def _owner_email(session: AsyncSession, outcome: PlanOutcome) -> str | None:
    if outcome.owner_contact_id is not None:
        return await session.scalar(select(Contact.email).where(Contact.id == outcome.owner_contact_id))
    if outcome.owner_user_id is not None:
        return await session.scalar(select(User.email).where(User.id == outcome.owner_user_id))
    return None


async def _milestone(session: AsyncSession, principal: Principal, now: datetime, account_id: int, plan: SuccessPlan,
                     wanted: dict[str, Any]) -> str:
    milestones = list(await session.scalars(select(PlanMilestone).where(PlanMilestone.plan_id == plan.id)))
    existing = next((m for m in milestones if wanted["milestone_id"] and m.external_id == wanted["milestone_id"]),
                    None) or next((m for m in milestones if not wanted["milestone_id"] and
                                   m.title == wanted["milestone"]), None)
    result = "unchanged"
    if existing is None:
        if wanted["due"] is None:
            raise InvalidInput("a new milestone needs due (its due date)")
        outcome_id = None
        if wanted["outcome_id"]:
            outcome_id = await session.scalar(select(PlanOutcome.id).where(
                PlanOutcome.plan_id == plan.id, PlanOutcome.external_id == wanted["outcome_id"]))
            if outcome_id is None:
                raise InvalidInput(f"outcome_id {wanted['outcome_id']!r} is not an outcome of this plan")
        await update_success_plan(session, principal=principal, now=now, account_id=account_id, change=PlanChange(
            action="add_milestone", expected_version=plan.version, title=wanted["milestone"],
            target_date=wanted["due"], outcome_id=outcome_id, external_id=wanted["milestone_id"]))
        existing = await session.scalar(select(PlanMilestone).where(PlanMilestone.plan_id == plan.id)
                                        .order_by(PlanMilestone.id.desc()).limit(1))
        result = "inserted"
        await session.refresh(plan)
    assert existing is not None
    if wanted["completed"] is not None and existing.completed_on != wanted["completed"]:
        await update_success_plan(session, principal=principal, now=now, account_id=account_id, change=PlanChange(
            action="complete_milestone", expected_version=plan.version, milestone_id=existing.id,
            on=wanted["completed"]))
        result = "updated" if result == "unchanged" else result
    return result
