"""Importing success plans: outcome and milestone rows through the plan service, keyed by their ids, a
re-import changing nothing, a changed value updating, and bad rows refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.crm.success_plans import active_plan
from store.database.models import AuditEvent, PlanOutcome, SuccessPlan
from store.errors import InvalidInput
from store.imports import sources
from store.imports.entity_import import import_entities
from store.imports.report import ImportReport
from tests.conftest import NOW, Db
from tests.factories import make_account

PLANS = "".join(line + "\n" for line in (
    "account,plan,plan_id,plan_start,outcome,outcome_id,metric,unit,baseline,target,current,target_date,owner,"
    "milestone,milestone_id,due,completed",
    "acme.com,FY27 goals,P-1,2026-10-01,Close the books in 3 days,O-1,Days to close,days,10,3,6,2027-03-31,"
    "pat@acme.com,,,,",
    "acme.com,FY27 goals,P-1,,,,,,,,,,,Automate reconciliation,M-1,2026-12-15,"))
BAD = """account,plan,outcome,metric,unit,baseline,target,target_date,milestone,due,completed
acme.com,FY27 goals,Nothing moves,Days,days,5,5,2027-03-31,,,
acme.com,FY27 goals,Too early,Days,days,9,5,2020-01-01,,,
nowhere.com,FY27 goals,Lost,Days,days,9,5,2027-03-31,,,
acme.com,FY27 goals,,,,,,,Kickoff,2026-11-01,2027-01-01
acme.com,FY27 goals,,,,,,,,,
"""


async def _import(db: Db, tmp_path: Path, text: str, **options: bool) -> ImportReport:
    path = tmp_path / "plans.csv"
    path.write_text(text, encoding="utf-8")
    with sources.opened(str(path)) as source:
        return await import_entities(db.app.write_sessions, kind="success-plans", source=source,
                                     principal=db.principals["morgan"], now=NOW, **options)


async def _acme(db: Db) -> int:
    from store.crm.contacts import upsert_contact

    account = await make_account(db, name="Acme Corp", domain="acme.com")
    async with db.write() as session:
        await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id, name="Pat Lee",
                             email="pat@acme.com", role="champion")
    return account.id


async def test_a_plan_file_imports_once_and_a_changed_value_updates(db: Db, tmp_path: Path) -> None:
    account_id = await _acme(db)
    first = await _import(db, tmp_path, PLANS)
    again = await _import(db, tmp_path, PLANS)
    changed = await _import(db, tmp_path, PLANS.replace(",6,2027-03-31", ",3,2027-03-31").replace(
        "2026-12-15,", "2026-12-15,2026-11-20"))
    async with db.read() as session:
        plan = await active_plan(session, account_id, today=NOW.date())
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (2, 0, 0, 2)
    assert (changed.updated, changed.unchanged) == (2, 0)
    assert plan is not None and (plan.title, plan.external_id, plan.starts_on.isoformat()) == (
        "FY27 goals", "P-1", "2026-10-01")
    outcome = plan.outcomes[0]
    assert (outcome.metric, str(outcome.current_value), outcome.status, outcome.owner, outcome.external_id) == (
        "Days to close", "3", "achieved", "Pat Lee", "O-1")
    assert (plan.milestones[0].title, plan.milestones[0].completed_on.isoformat()) == (
        "Automate reconciliation", "2026-11-20")


async def test_bad_plan_rows_are_refused_each_with_its_line_and_nothing_is_written(db: Db, tmp_path: Path) -> None:
    await _acme(db)
    async with db.read() as session:
        audit_before = await session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(InvalidInput) as refused:
        await _import(db, tmp_path, BAD)
    message = str(refused.value)
    assert "line 2: target (5) equals baseline" in message
    assert "line 3: target_date 2020-01-01 is before the plan starts" in message
    assert "line 4: no account matches 'nowhere.com'" in message
    assert "line 5: a milestone completed on 2027-01-01 is in the future" in message
    assert "line 6: a row is an outcome" in message
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(SuccessPlan)) == 0
        assert await session.scalar(select(func.count()).select_from(PlanOutcome)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
