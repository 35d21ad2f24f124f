"""A new health model re-assesses every account once, names itself in each assessment, and is audited."""

from __future__ import annotations

from sqlalchemy import func, select

from agents.cycle import run_cycle
from store.database.models import Assessment, AuditEvent
from store.health.model import default_model, laid_over
from tests.agents.conftest import deps_for
from tests.conftest import Db
from tests.factories import make_account


async def test_a_model_change_re_assesses_each_account_once_and_is_audited(db: Db) -> None:
    for index in range(3):
        await make_account(db, name=f"Account {index}")
    shipped = default_model()
    team = laid_over(shipped, '[signals."survey.nps"]\nweight = 5\n', "team.toml")
    first = await run_cycle(deps_for(db))
    unchanged = await run_cycle(deps_for(db))
    changed = await run_cycle(deps_for(db, health_model=team))
    again = await run_cycle(deps_for(db, health_model=team))
    assert (first.assessed, unchanged.assessed, changed.assessed, again.assessed) == (3, 0, 3, 0)
    async with db.read() as session:
        methods = dict((await session.execute(
            select(Assessment.method, func.count()).group_by(Assessment.method))).all())
        audited = [row.after["model"] for row in await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "health_model.apply").order_by(AuditEvent.id))]
    assert methods == {f"rules/{shipped.id}": 3, f"rules/{team.id}": 3}
    assert audited == [shipped.id, team.id]
