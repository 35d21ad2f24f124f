"""Success plans: what the customer wants from the product (outcomes with a metric each), the milestones on
the way, and how far they got. One active plan per account at a time; the plan's version covers its
outcomes and milestones, so two people editing one plan cannot overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.auth.users import resolve_assignee
from store.crm.accounts import load_account
from store.database.engine import rows
from store.database.models import Contact, PlanMilestone, PlanOutcome, SuccessPlan, User
from store.database.one_hop import on_session
from store.database.versioning import check_version, flush_guarded
from store.errors import Conflict, InvalidInput, NotFound
from store.health.signal_facts import progress
from store.runs.account_marks import mark_accounts
from store.schemas import MilestoneOut, OutcomeOut, SuccessPlanOut
from store.vocabulary import OUTCOME_STATUSES, PLAN_ACTIONS

# An outcome closed one way or the other: its status is no longer moved by a recorded value.
SETTLED = ("achieved", "missed", "dropped")


@dataclass(frozen=True)
class PlanChange:
    """What one call to update_success_plan asks for; which fields count depends on `action`."""

    action: str
    expected_version: int | None = None
    title: str | None = None
    starts_on: date | None = None
    outcome_id: int | None = None
    milestone_id: int | None = None
    description: str | None = None
    metric: str | None = None
    unit: str | None = None
    baseline: Decimal | str | None = None
    target: Decimal | str | None = None
    target_date: date | None = None
    owner: str | None = None
    status: str | None = None
    value: Decimal | str | None = None
    on: date | None = None
    external_id: str | None = None


def reached(outcome: Any) -> bool:
    share = progress(outcome)
    return share is not None and share >= 1


# The active plan's rows, each statement built once and bound per call (see store.crm.account_view).
_ACCOUNT_ID = bindparam("account_id", type_=Integer)
_PLAN_ID = bindparam("plan_id", type_=Integer)
ACTIVE_PLAN = select(SuccessPlan.id, SuccessPlan.account_id, SuccessPlan.title, SuccessPlan.status,
                     SuccessPlan.starts_on, SuccessPlan.ends_on, SuccessPlan.external_id, SuccessPlan.version) \
    .where(SuccessPlan.account_id == _ACCOUNT_ID, SuccessPlan.status == "active")
OUTCOMES = select(*PlanOutcome.__table__.columns, User.email.label("owner_email"),
                  Contact.name.label("owner_contact")) \
    .outerjoin(User, User.id == PlanOutcome.owner_user_id) \
    .outerjoin(Contact, Contact.id == PlanOutcome.owner_contact_id) \
    .where(PlanOutcome.plan_id == _PLAN_ID).order_by(PlanOutcome.id)
MILESTONES = select(PlanMilestone.id, PlanMilestone.title, PlanMilestone.due_on, PlanMilestone.completed_on,
                    PlanMilestone.outcome_id, PlanMilestone.external_id) \
    .where(PlanMilestone.plan_id == _PLAN_ID).order_by(PlanMilestone.due_on, PlanMilestone.id)


async def active_plan(session: AsyncSession, account_id: int, *, today: date) -> SuccessPlanOut | None:
    """The account's active plan with its outcomes and milestones, or None."""
    return await on_session(session, active_plan_of, account_id, today=today)


def active_plan_of(db: Connection, account_id: int, *, today: date) -> SuccessPlanOut | None:
    """active_plan as a read unit (see store.database.one_hop)."""
    plan = rows(db, ACTIVE_PLAN, {"account_id": account_id}).first()
    if plan is None:
        return None
    outcomes = rows(db, OUTCOMES, {"plan_id": plan.id})
    milestones = rows(db, MILESTONES, {"plan_id": plan.id})
    return SuccessPlanOut(
        id=plan.id, account_id=plan.account_id, title=plan.title, status=plan.status, starts_on=plan.starts_on,
        ends_on=plan.ends_on, external_id=plan.external_id, version=plan.version,
        outcomes=[_outcome_out(o, o.owner_email or o.owner_contact) for o in outcomes],
        milestones=[MilestoneOut(id=m.id, title=m.title, due_on=m.due_on, completed_on=m.completed_on,
                                 outcome_id=m.outcome_id, external_id=m.external_id,
                                 overdue_days=(today - m.due_on).days if m.completed_on is None and m.due_on < today
                                 else None) for m in milestones])


def plain(number: Decimal | None) -> Decimal | None:
    """A metric as people write it (stored with four places)."""
    return validation.plain_number(number) if number is not None else None


def _outcome_out(o: Any, owner: str | None) -> OutcomeOut:
    share = progress(o)
    return OutcomeOut(id=o.id, description=o.description, metric=o.metric_name, unit=o.metric_unit,
                      baseline=plain(o.baseline), target=plain(o.target), current_value=plain(o.current_value),
                      measured_on=o.measured_on,
                      target_date=o.target_date, owner=owner, status=o.status, achieved_on=o.achieved_on,
                      progress=round(share, 3) if share is not None else None, external_id=o.external_id)


async def update_success_plan(session: AsyncSession, *, principal: Principal, now: datetime, account_id: int,
                              change: PlanChange) -> SuccessPlanOut:
    """Start a plan, set (add or edit) an outcome, record a metric value, add or complete a milestone, or close
    the plan. Every change but `start` needs the active plan's version; `start` needs it too when it
    replaces an active plan.

    Raises:
        InvalidInput (with the reason), Forbidden, NotFound, Conflict (a stale version).
    """
    validation.one_of(change.action, PLAN_ACTIONS, "action")
    account = await load_account(session, account_id)
    require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    today = now.date()
    plan = await session.scalar(select(SuccessPlan).where(SuccessPlan.account_id == account_id,
                                                          SuccessPlan.status == "active"))
    if change.action == "start":
        plan = await _start(session, principal, now, account_id, plan, change)
    else:
        if plan is None:
            raise NotFound(f"account {account_id} has no active success plan; start one with action \"start\"")
        if change.expected_version is None:
            raise InvalidInput(f"expected_version is required to change a plan (plan {plan.id} is at version "
                               f"{plan.version})")
        check_version("success plan", plan.id, plan.version, change.expected_version)
        handler = {"set_outcome": _set_outcome, "record_value": _record_value, "add_milestone": _add_milestone,
                   "complete_milestone": _complete_milestone, "close": _close}[change.action]
        detail = await handler(session, principal, plan, change, now)
        # The plan's row is written whatever changed beneath it, so that its version moves.
        plan.updated_at = now
        flag_modified(plan, "updated_at")
        await flush_guarded(session, "success plan", plan.id)
        audit.record(session, principal=principal, action=f"success_plan.{change.action}", entity="success_plan",
                     entity_id=plan.id, at=now, after={"account_id": account_id, **detail})
    await mark_accounts(session, [account_id], now=now, reason="success_plan.update")
    plan_id = plan.id
    answer = await active_plan(session, account_id, today=today)
    if answer is None:  # the change closed it
        closed = await session.get(SuccessPlan, plan_id)
        assert closed is not None
        return SuccessPlanOut(id=closed.id, account_id=account_id, title=closed.title, status=closed.status,
                              starts_on=closed.starts_on, ends_on=closed.ends_on, external_id=closed.external_id,
                              version=closed.version, outcomes=[], milestones=[])
    return answer


async def _start(session: AsyncSession, principal: Principal, now: datetime, account_id: int,
                 current: SuccessPlan | None, change: PlanChange) -> SuccessPlan:
    title = validation.text(change.title or "", "title", max_length=200)
    starts_on = change.starts_on or now.date()
    if current is not None:
        if change.expected_version is None:
            raise Conflict(f"account {account_id} already has an active plan ({current.id}, version "
                           f"{current.version}); pass its expected_version to close it and start a new one")
        check_version("success plan", current.id, current.version, change.expected_version)
        current.status, current.ends_on, current.updated_at = "closed", now.date(), now
        await flush_guarded(session, "success plan", current.id)
        audit.record(session, principal=principal, action="success_plan.close", entity="success_plan",
                     entity_id=current.id, at=now, after={"account_id": account_id, "replaced": True})
    plan = SuccessPlan(account_id=account_id, title=title, status="active", starts_on=starts_on,
                       external_id=validation.external_id(change.external_id), created_at=now, updated_at=now)
    session.add(plan)
    await session.flush()
    audit.record(session, principal=principal, action="success_plan.start", entity="success_plan",
                 entity_id=plan.id, at=now, after={"account_id": account_id, "title": title,
                                                   "starts_on": starts_on.isoformat()})
    return plan


def _number(value: Decimal | str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number like 42 or 3.5; got {value!r}") from None
    if not number.is_finite() or abs(number) >= Decimal("1e14"):
        raise InvalidInput(f"{field} must be a finite number below 10^14; got {value!r}")
    return number


async def _set_outcome(session: AsyncSession, principal: Principal, plan: SuccessPlan, change: PlanChange,
                       now: datetime
                       ) -> dict[str, Any]:
    if change.outcome_id is None:
        missing = [name for name in ("description", "metric", "unit", "baseline", "target", "target_date")
                   if getattr(change, name) is None]
        if missing:
            raise InvalidInput(f"a new outcome needs {', '.join(missing)} (or pass outcome_id to edit one)")
        outcome = PlanOutcome(plan_id=plan.id, account_id=plan.account_id, status="on_track", created_at=now)
    else:
        outcome = await _outcome_of(session, plan, change.outcome_id)
    if change.description is not None:
        outcome.description = validation.text(change.description, "description", max_length=1000)
    if change.metric is not None:
        outcome.metric_name = validation.text(change.metric, "metric", max_length=120)
    if change.unit is not None:
        outcome.metric_unit = validation.text(change.unit, "unit", max_length=30)
    if change.baseline is not None:
        outcome.baseline = _number(change.baseline, "baseline")
    if change.target is not None:
        outcome.target = _number(change.target, "target")
    if outcome.baseline == outcome.target:
        raise InvalidInput(f"target ({outcome.target}) equals baseline: an outcome must move its metric")
    if change.target_date is not None:
        if change.target_date < plan.starts_on:
            raise InvalidInput(f"target_date {change.target_date} is before the plan starts ({plan.starts_on})")
        outcome.target_date = change.target_date
    if change.owner is not None:
        outcome.owner_user_id, outcome.owner_contact_id = await _owner(session, principal, plan.account_id,
                                                                       change.owner)
    if change.status is not None:
        outcome.status = validation.one_of(change.status, OUTCOME_STATUSES, "status")
        outcome.achieved_on = (change.on or now.date()) if outcome.status == "achieved" else None
    if change.external_id is not None:
        outcome.external_id = validation.external_id(change.external_id)
    outcome.updated_at = now
    session.add(outcome)
    await session.flush()
    return {"outcome_id": outcome.id, "description": outcome.description, "status": outcome.status}


async def _owner(session: AsyncSession, principal: Principal, account_id: int, ref: str
                 ) -> tuple[int | None, int | None]:
    """An outcome's owner: one of the account's own contacts (by email), or a csdesk user ("me" or an email)."""
    reference = ref.strip().lower()
    contacts = list(await session.scalars(select(Contact).where(Contact.email == reference)))
    mine = next((contact for contact in contacts if contact.account_id == account_id), None)
    if mine is not None:
        return None, mine.id
    if contacts:
        raise InvalidInput(f"owner {reference} is a contact of another account; an outcome's owner is a CSM or a "
                           "person at this customer")
    user = await resolve_assignee(session, ref=reference, principal=principal, field="owner")
    return user.id, None


async def _outcome_of(session: AsyncSession, plan: SuccessPlan, outcome_id: int) -> PlanOutcome:
    outcome = await session.get(PlanOutcome, outcome_id)
    if outcome is None or outcome.plan_id != plan.id:
        raise NotFound(f"outcome {outcome_id} is not in the active plan {plan.id}; get_account lists its outcomes")
    return outcome


async def _record_value(session: AsyncSession, principal: Principal, plan: SuccessPlan, change: PlanChange,
                        now: datetime
                        ) -> dict[str, Any]:
    if change.outcome_id is None or change.value is None:
        raise InvalidInput("record_value needs outcome_id and value")
    outcome = await _outcome_of(session, plan, change.outcome_id)
    if change.unit is not None and change.unit.strip().lower() != outcome.metric_unit.lower():
        raise InvalidInput(f"value is in {change.unit!r}, but {outcome.metric_name} is measured in "
                           f"{outcome.metric_unit!r}")
    measured_on = change.on or now.date()
    if measured_on > now.date():
        raise InvalidInput(f"a value measured on {measured_on} is in the future (today is {now.date()})")
    outcome.current_value, outcome.measured_on, outcome.updated_at = _number(change.value, "value"), measured_on, now
    if outcome.status not in SETTLED and reached(outcome):
        outcome.status, outcome.achieved_on = "achieved", measured_on
    return {"outcome_id": outcome.id, "value": str(outcome.current_value), "status": outcome.status}


async def _add_milestone(session: AsyncSession, principal: Principal, plan: SuccessPlan, change: PlanChange,
                         now: datetime
                         ) -> dict[str, Any]:
    if change.title is None or change.target_date is None:
        raise InvalidInput("add_milestone needs title and target_date (its due date)")
    if change.outcome_id is not None:
        await _outcome_of(session, plan, change.outcome_id)
    milestone = PlanMilestone(plan_id=plan.id, account_id=plan.account_id, outcome_id=change.outcome_id,
                              title=validation.text(change.title, "title", max_length=200), due_on=change.target_date,
                              external_id=validation.external_id(change.external_id), created_at=now, updated_at=now)
    session.add(milestone)
    await session.flush()
    return {"milestone_id": milestone.id, "title": milestone.title, "due_on": milestone.due_on.isoformat()}


async def _complete_milestone(session: AsyncSession, principal: Principal, plan: SuccessPlan, change: PlanChange,
                              now: datetime
                              ) -> dict[str, Any]:
    if change.milestone_id is None:
        raise InvalidInput("complete_milestone needs milestone_id")
    milestone = await session.get(PlanMilestone, change.milestone_id)
    if milestone is None or milestone.plan_id != plan.id:
        raise NotFound(f"milestone {change.milestone_id} is not in the active plan {plan.id}")
    completed_on = change.on or now.date()
    if completed_on > now.date():
        raise InvalidInput(f"a milestone completed on {completed_on} is in the future (today is {now.date()})")
    milestone.completed_on, milestone.updated_at = completed_on, now
    return {"milestone_id": milestone.id, "completed_on": completed_on.isoformat()}


async def _close(session: AsyncSession, principal: Principal, plan: SuccessPlan, change: PlanChange,
                 now: datetime) -> dict[str, Any]:
    plan.status, plan.ends_on = "closed", change.on or now.date()
    return {"closed_on": plan.ends_on.isoformat()}

