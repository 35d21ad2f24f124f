"""Agent cycles over a portfolio: idempotent re-runs, playbooks once, interrupted runs that pick up."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from agents import assessment as assessment_module
from agents import cycle
from agents.cycle import run_cycle
from store.database.models import AgentRun, Assessment, AuditEvent, Notification, SupportTicket, SurveyResponse, Task
from store.demo.portfolio import seed_demo_portfolio
from tests.agents.conftest import deps_for
from tests.agents.fake_openai import FakeOpenAI, Reply
from tests.conftest import NOW, TODAY, Db
from tests.factories import make_account


async def _count(db: Db, model: type, *where: object) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


# The demo seeds each account's earlier health as history rows; these count the agent's own.
AGENT_MADE = Assessment.method != "demo-history"


async def _seed(db: Db, accounts: int = 24) -> None:
    async with db.write() as session:
        await seed_demo_portfolio(session, today=TODAY, accounts=accounts)


async def test_a_second_cycle_skips_every_unchanged_account_and_creates_nothing(db: Db) -> None:
    await _seed(db)
    first = await run_cycle(deps_for(db))
    counts = {model: await _count(db, model) for model in (Assessment, Task, Notification)}
    second = await run_cycle(deps_for(db))
    assert (first.accounts, first.assessed, first.failures) == (24, 24, 0)
    assert first.tasks > 0 and first.notifications > 0
    assert (second.assessed, second.skipped_unchanged, second.tasks, second.notifications) == (0, 24, 0, 0)
    assert {model: await _count(db, model) for model in (Assessment, Task, Notification)} == counts
    async with db.read() as session:
        runs = list(await session.scalars(select(AgentRun).order_by(AgentRun.id)))
    assert [(run.status, run.counts["assessed"]) for run in runs] == [("completed", 24), ("completed", 0)]


async def test_an_unchanged_rerun_costs_no_model_tokens(db: Db, fake_openai: FakeOpenAI, model) -> None:  # noqa: ANN001
    await _seed(db, accounts=6)
    fake_openai.script = [Reply(content="not json")]
    first = await run_cycle(deps_for(db, model))
    calls = len(fake_openai.requests)
    second = await run_cycle(deps_for(db, model))
    # One call per assessment, and one per drafted message.
    assert first.assessed == 6 and calls == 6 + first.drafts and first.fallbacks == 6
    assert second.assessed == 0 and len(fake_openai.requests) == calls and second.prompt_tokens == 0


async def test_forcing_a_cycle_reassesses_but_playbooks_fire_once(db: Db) -> None:
    await _seed(db)
    await run_cycle(deps_for(db))
    tasks, notifications = await _count(db, Task), await _count(db, Notification)
    forced = await run_cycle(deps_for(db), force=True)
    assert forced.assessed == 24 and (forced.tasks, forced.notifications) == (0, 0)
    assert (await _count(db, Task), await _count(db, Notification)) == (tasks, notifications)
    assert await _count(db, Assessment, AGENT_MADE) == 48


async def _make_at_risk(db: Db, account_id: int) -> None:
    async with db.write() as session:
        session.add(SupportTicket(account_id=account_id, subject="Outage", opened_at=NOW - timedelta(days=3),
                                  due_at=NOW - timedelta(days=1), priority="urgent", escalated=True))
        session.add(SurveyResponse(account_id=account_id, kind="nps", score=2, responded_at=NOW - timedelta(days=2)))


async def test_becoming_at_risk_notifies_owner_and_manager_and_opens_a_discovery_task_once(db: Db) -> None:
    account = await make_account(db, renewal_date=TODAY + timedelta(days=200))
    first = await run_cycle(deps_for(db))
    await _make_at_risk(db, account.id)
    second = await run_cycle(deps_for(db))
    assert first.status_changes == 0 and second.status_changes == 1 and second.warnings >= 1
    async with db.read() as session:
        notified = dict((await session.execute(select(Notification.user_id, Notification.kind)
                                               .where(Notification.kind.in_(("at_risk", "early_warning"))))).all())
        kinds = sorted((await session.execute(select(Notification.kind, Notification.user_id))).all())
        discovery = list(await session.scalars(select(Task.title).where(Task.dedupe_key.like("pb:at_risk:%"))))
        detractor = list(await session.scalars(select(Task.due_date).where(Task.dedupe_key.like("pb:detractor:%"))))
    ana, morgan = db.principals["ana"].user_id, db.principals["morgan"].user_id
    assert ("at_risk", ana) in kinds and ("at_risk", morgan) in kinds and ("early_warning", ana) in kinds
    assert ana in notified
    assert discovery == ["Discovery call with Acme Corp: what would make them stay?"]
    assert detractor == [TODAY + timedelta(days=2)]
    third = await run_cycle(deps_for(db), force=True)
    assert (third.tasks, third.notifications) == (0, 0)


async def test_an_interrupted_cycle_leaves_whole_assessments_and_the_next_one_picks_up(
        db: Db, fake_openai: FakeOpenAI, model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    await _seed(db, accounts=6)
    monkeypatch.setattr(assessment_module, "WRITE_BATCH", 1)
    fake_openai.script = [Reply(content="not json", delay_seconds=0.2)]
    first_written = asyncio.Event()

    def on_done(outcome: object) -> None:
        first_written.set()

    cycle = asyncio.create_task(run_cycle(deps_for(db, model, concurrency=1), on_done=on_done))
    await asyncio.wait_for(first_written.wait(), timeout=20)
    cycle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cycle
    written = await _count(db, Assessment, AGENT_MADE)
    async with db.read() as session:
        run = await session.scalar(select(AgentRun))
        audited = await session.scalar(select(func.count()).select_from(AuditEvent)
                                       .where(AuditEvent.action == "assessment.create"))
    assert 1 <= written < 6 and audited == written
    assert run.status == "interrupted" and run.finished_at is not None
    resumed = await run_cycle(deps_for(db, model))
    assert resumed.assessed == 6 - written and resumed.skipped_unchanged == written
    assert await _count(db, Assessment, AGENT_MADE) == 6


async def test_a_fenced_worker_writes_nothing_for_accounts_another_worker_took_over(db: Db) -> None:
    from agents.assessment import assess_accounts
    from store.runs.agent_runs import claim_accounts, join_cycle

    await _seed(db, accounts=6)
    deps = deps_for(db)
    async with db.write() as session:
        stalled, cycle_id = await join_cycle(session, now=NOW, wall_now=NOW)
        ids = await claim_accounts(session, run_id=stalled, cycle_id=cycle_id, wall_now=NOW, limit=10)
        # Its lease ran out meanwhile: another worker takes half of its batch.
        session.add(AgentRun(kind="assessment-worker", started_at=NOW, heartbeat_at=NOW, status="running"))
        await session.flush()
        replacement = await session.scalar(select(func.max(AgentRun.id)))
        await session.execute(AgentRun.__table__.update().where(AgentRun.id == stalled).values(status="interrupted"))
        taken = await claim_accounts(session, run_id=replacement, cycle_id=cycle_id, wall_now=NOW, limit=3)
    outcomes = await assess_accounts(deps, ids, run_id=stalled, fenced=True)
    assessed = {outcome.account_id for outcome in outcomes if outcome.assessed}
    assert assessed == set(ids) - set(taken) and len(taken) == 3
    assert await _count(db, Assessment, AGENT_MADE, Assessment.account_id.in_(taken)) == 0
    assert await _count(db, Assessment, AGENT_MADE) == len(assessed)


async def test_a_cycle_in_chunks_read_ahead_decides_as_one_chunk_does(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(db, accounts=12)
    monkeypatch.setattr(assessment_module, "CHUNK", 5)  # three chunks, each read while the one before is worked on
    chunked = await run_cycle(deps_for(db))
    again = await run_cycle(deps_for(db))
    monkeypatch.setattr(assessment_module, "CHUNK", 500)
    whole = await run_cycle(deps_for(db), force=True)
    async with db.read() as session:
        rows = (await session.execute(select(Assessment.account_id, Assessment.run_id, Assessment.status,
                                             Assessment.score, Assessment.input_digest).where(AGENT_MADE))).all()
    by_run: dict[int, dict[int, tuple[str, int, str]]] = {}
    for account_id, run_id, status, score, digest in rows:
        by_run.setdefault(run_id, {})[account_id] = (status, score, digest)
    assert (chunked.assessed, chunked.failures, again.skipped_unchanged, whole.assessed) == (12, 0, 12, 12)
    assert chunked.tasks > 0 and chunked.notifications > 0
    assert by_run[chunked.run_id] == by_run[whole.run_id] and len(by_run[whole.run_id]) == 12


async def test_only_accounts_to_assess_have_their_playbooks_inputs_read(
        db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(db, accounts=12)
    await run_cycle(deps_for(db))
    read_for: list[list[int]] = []
    real = assessment_module.existing_dedupe_keys

    async def recording(session: object, account_ids: list[int], **kwargs: object) -> set[str]:
        read_for.append(list(account_ids))
        return await real(session, account_ids, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(assessment_module, "existing_dedupe_keys", recording)
    unchanged = await run_cycle(deps_for(db))
    async with db.read() as session:
        account_id = await session.scalar(select(func.min(Assessment.account_id)).where(AGENT_MADE))
    await _make_at_risk(db, account_id)
    one_changed = await run_cycle(deps_for(db))
    assert (unchanged.assessed, one_changed.assessed) == (0, 1)
    assert read_for == [[account_id]]


async def test_a_cycle_cut_short_leaves_no_read_ahead_behind(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(db, accounts=12)
    monkeypatch.setattr(assessment_module, "CHUNK", 5)
    real = assessment_module.load_signal_sets
    loads = 0

    async def stalling(session: object, ids: list[int], **kwargs: object) -> object:
        nonlocal loads
        loads += 1
        turn = loads
        sets = await real(session, ids, **kwargs)  # type: ignore[arg-type]
        if turn > 1:
            await asyncio.Event().wait()  # a chunk read ahead, holding its connection, would never finish
        return sets

    monkeypatch.setattr(assessment_module, "load_signal_sets", stalling)
    pool = db.app.engine.pool
    checked_out = pool.checkedout()  # type: ignore[attr-defined]

    def failing(outcome: object) -> None:
        raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError, match="gave up"):
        await run_cycle(deps_for(db), on_done=failing)
    assert loads == 2 and pool.checkedout() == checked_out  # type: ignore[attr-defined]
    assert gc.get_freeze_count() == 0
    async with db.read() as session:
        assert await session.scalar(select(AgentRun.status)) == "interrupted"


async def test_a_cycle_leaves_older_objects_out_of_the_collectors_passes_until_it_ends(db: Db) -> None:
    await _seed(db, accounts=3)
    frozen_while_running: list[int] = []
    await run_cycle(deps_for(db), on_done=lambda _outcome: frozen_while_running.append(gc.get_freeze_count()))
    assert len(frozen_while_running) == 3 and min(frozen_while_running) > 10_000
    assert gc.get_freeze_count() == 0


# What the planner believes: the share of accounts without a health status.
HEALTH_UNKNOWN_SHARE = "SELECT null_frac FROM pg_stats WHERE tablename = 'accounts' AND attname = 'health_status'"


async def test_a_cycle_that_rewrites_many_accounts_refreshes_the_planners_statistics(
        db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL; at 100,000 accounts stale statistics made the retention view ten times slower."""
    if db.app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans from the schema alone; there is nothing to refresh")
    await _seed(db, accounts=12)
    async with db.write() as session:  # statistics as of the seed: no account has a health status yet
        await session.execute(text("ANALYZE accounts"))
    async with db.read() as session:
        assert await session.scalar(text(HEALTH_UNKNOWN_SHARE)) == 1.0
    monkeypatch.setattr(cycle, "STATISTICS_AFTER_ASSESSED", 13)
    await run_cycle(deps_for(db), force=True)  # 12 assessed: below the mark, nothing refreshed
    async with db.read() as session:
        assert await session.scalar(text(HEALTH_UNKNOWN_SHARE)) == 1.0
    monkeypatch.setattr(cycle, "STATISTICS_AFTER_ASSESSED", 12)
    await run_cycle(deps_for(db), force=True)
    async with db.read() as session:  # only the churned account (not assessed) has none now
        assert await session.scalar(text(HEALTH_UNKNOWN_SHARE)) < 0.1
