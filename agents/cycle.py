"""One agent cycle over the whole portfolio: assess what changed, fire playbooks, record the run."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from agents.assessment import AccountOutcome, agent_principal, assess_each
from agents.deps import AgentDeps
from store.crm import portfolio_snapshots
from store.crm.drafts import sweep_stale
from store.database.engine import refresh_statistics
from store.events.rollup import roll_up_all
from store.runs.account_marks import clear_marked_before
from store.runs.agent_runs import (
    active_account_ids,
    beat,
    claim_accounts,
    close_dead_runs,
    close_run,
    finish_claims,
    join_cycle,
    open_run,
)

logger = logging.getLogger(__name__)
# Accounts a worker claims at a time: a few write batches, so workers spread the cycle evenly.
CLAIM_BATCH = 200
# A cycle that assessed at least this many accounts refreshes PostgreSQL's statistics for the tables it
# rewrote. At 100,000 accounts the first cycle left the planner believing no account had a health
# status: the retention view took 3.8 ms instead of 0.4, the portfolio summary 2.6 s instead of 0.9. The
# drafts it wrote too: believing the review queue held 175 drafts, not 147,000, PostgreSQL sorted them all.
STATISTICS_AFTER_ASSESSED = 1_000
REWRITTEN_TABLES = ("accounts", "assessments", "drafts")


class CycleSummary(BaseModel):
    run_id: int
    accounts: int
    assessed: int
    skipped_unchanged: int
    status_changes: int
    warnings: int
    notifications: int
    tasks: int
    drafts: int
    fallbacks: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    @property
    def accounts_per_second(self) -> float:
        return self.accounts / self.seconds if self.seconds else 0.0


class CycleTally:
    """A cycle's counts (CycleSummary's fields but its run and time), added up as each account's outcome
    comes in: a cycle over 100,000 accounts needs the counts, not every outcome kept until it ends."""

    COUNTED = tuple(name for name in CycleSummary.model_fields if name not in ("run_id", "seconds"))

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.COUNTED, 0)

    @property
    def assessed(self) -> int:
        return self.counts["assessed"]

    def add(self, outcome: AccountOutcome) -> None:
        counts = self.counts
        counts["accounts"] += 1
        counts["prompt_tokens"] += outcome.prompt_tokens
        counts["completion_tokens"] += outcome.completion_tokens
        if outcome.error is not None:
            counts["failures"] += 1
        if not outcome.assessed:
            counts["skipped_unchanged"] += outcome.error is None
            return
        counts["assessed"] += 1
        counts["status_changes"] += outcome.previous_status is not None and outcome.status != outcome.previous_status
        counts["warnings"] += outcome.warnings
        counts["notifications"] += outcome.notifications
        counts["tasks"] += outcome.tasks
        counts["drafts"] += outcome.drafts
        counts["fallbacks"] += bool(outcome.fallback_reason)

    def summary(self, run_id: int, seconds: float) -> CycleSummary:
        return CycleSummary(run_id=run_id, seconds=round(seconds, 3), **self.counts)


async def run_cycle(deps: AgentDeps, *, force: bool = False, on_start: Callable[[int], None] | None = None,
                    on_done: Callable[[AccountOutcome], None] | None = None, worker: bool = False) -> CycleSummary:
    """Assess every active account whose signals changed, then record the run.

    Each account's assessment, notifications and tasks commit together, so an interrupted cycle leaves
    whole assessments behind and the next cycle picks up the rest (unchanged ones are skipped).
    As a `worker`, the process joins the shared cycle and assesses only the batches it claims, so
    several workers split one cycle between them without doing any account twice.
    """
    with _long_lived_objects_frozen():
        return await _run_cycle(deps, force=force, on_start=on_start, on_done=on_done, worker=worker)


@contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep Python's garbage collector off the objects that were there before the cycle (the libraries'
    and the app's own, 150,000 of them) until it ends. A cycle keeps each chunk's facts and signals alive
    long enough for the collector to count them as long-lived, which makes it walk every long-lived
    object again every chunk or two: in an unchanged re-run of 100,000 accounts those passes took 11 of
    29 s, and 2.5 s with the objects from before the cycle left out. Nothing is lost: an object frozen
    here that becomes garbage meanwhile is freed as usual, or, if in a reference cycle, after the cycle."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _run_cycle(deps: AgentDeps, *, force: bool, on_start: Callable[[int], None] | None,
                     on_done: Callable[[AccountOutcome], None] | None, worker: bool) -> CycleSummary:
    started = time.perf_counter()
    # Product events stored but not yet counted are counted first: the cycle reads usage as it stands.
    await roll_up_all(deps.write_sessions, now=deps.wall_clock.now())
    agent = await agent_principal(deps)
    async with deps.write_sessions() as session, session.begin():
        if worker:
            run_id, cycle_id = await join_cycle(session, now=deps.clock.now(), wall_now=deps.wall_clock.now(),
                                                lease=deps.run_lease)
        else:
            run_id = await open_run(session, kind="assessment", now=deps.clock.now(),
                                    wall_now=deps.wall_clock.now(), lease=deps.run_lease)
            cycle_id = None
        # Drafts whose account changed materially since they were written can no longer go out.
        await sweep_stale(session, now=deps.clock.now(), principal=agent)
    alive, stop = asyncio.Event(), asyncio.Event()
    alive.set()
    heartbeat = asyncio.create_task(_keep_alive(deps, run_id, alive, stop))
    tally = CycleTally()

    def collect(outcome: AccountOutcome) -> None:
        tally.add(outcome)
        if on_done is not None:
            on_done(outcome)

    status, error = "interrupted", None
    try:
        if cycle_id is None:
            async with deps.read_sessions() as session:
                account_ids = await active_account_ids(session)
            if on_start is not None:
                on_start(len(account_ids))
            began = deps.wall_clock.now()
            await assess_each(deps, account_ids, run_id=run_id, force=force, on_done=collect, agent=agent)
            # The accounts marked before the cycle began have been assessed: the watch need not again.
            async with deps.write_sessions() as session, session.begin():
                await clear_marked_before(session, before=began, now=deps.wall_clock.now())
        else:
            # A worker the others took for dead (it stalled past its lease) claims no more: its batch
            # has gone back to them.
            while alive.is_set() and (ids := await _claim(deps, run_id, cycle_id)):
                await assess_each(deps, ids, run_id=run_id, force=force, on_done=collect, agent=agent, fenced=True)
                await _finish(deps, run_id)
        status = "completed"
        await _refresh_statistics(deps, assessed=tally.assessed)
        await refresh_portfolio_figures(deps)
    finally:
        try:
            summary = tally.summary(run_id, time.perf_counter() - started)
            if status == "completed" and summary.failures:
                status, error = "partial", f"{summary.failures} account(s) failed; see the log"
            # Shielded: a cancelled cycle still records how far it got.
            await asyncio.shield(_close(deps, run_id, status, summary, error))
        finally:
            # Stopped between beats and waited for, never cancelled: a beat cut off mid-transaction
            # could still hold its connection when the caller disposes of the engine, and the
            # process would hang on its way out.
            stop.set()
            await asyncio.wait([heartbeat])
    return summary


async def _refresh_statistics(deps: AgentDeps, *, assessed: int) -> None:
    if assessed < STATISTICS_AFTER_ASSESSED:
        return
    try:
        await refresh_statistics(deps.write_sessions, REWRITTEN_TABLES)
    except Exception:  # the cycle's work is done and committed; stale statistics only slow reads down
        logger.warning("could not refresh the planner's statistics after the cycle", exc_info=True)


async def refresh_portfolio_figures(deps: AgentDeps) -> None:
    """The dashboard a manager opens next is read from storage, not computed (store.crm.portfolio_snapshots)."""
    try:
        await portfolio_snapshots.refresh(deps.units, now=deps.clock.now())
    except Exception:  # the cycle's work is done and committed; the dashboard computes its figures itself
        logger.warning("could not refresh the portfolio's stored figures after the cycle", exc_info=True)


async def _claim(deps: AgentDeps, run_id: int, cycle_id: int) -> list[int]:
    async with deps.write_sessions() as session, session.begin():
        return await claim_accounts(session, run_id=run_id, cycle_id=cycle_id, wall_now=deps.wall_clock.now(),
                                    limit=CLAIM_BATCH, lease=deps.run_lease)


async def _finish(deps: AgentDeps, run_id: int) -> None:
    async with deps.write_sessions() as session, session.begin():
        await finish_claims(session, run_id=run_id, wall_now=deps.wall_clock.now())


async def _keep_alive(deps: AgentDeps, run_id: int, alive: asyncio.Event, stop: asyncio.Event) -> None:
    """Renew the run's heartbeat four times per lease until `stop` is set, so a killed process is told
    from a slow one. A failed renewal is logged and retried at the next beat; a run found closed by
    another (taken for dead) clears `alive`."""
    every = deps.run_lease.total_seconds() / 4
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        except TimeoutError:
            pass
        try:
            async with deps.write_sessions() as session, session.begin():
                if not await beat(session, run_id=run_id, wall_now=deps.wall_clock.now()):
                    logger.warning("run %s was taken for dead by another run; it stops claiming accounts", run_id)
                    alive.clear()
                    return
        except Exception:  # a missed beat is not fatal: the lease allows three more
            logger.warning("could not renew the heartbeat of run %s", run_id, exc_info=True)


async def _close(deps: AgentDeps, run_id: int, status: str, summary: CycleSummary, error: str | None) -> None:
    async with deps.write_sessions() as session, session.begin():
        await close_run(session, run_id=run_id, status=status, now=deps.clock.now(),
                        counts=summary.model_dump(exclude={"run_id"}), error=error)
        # Record peers that died meanwhile, so the runs table does not show them working.
        await close_dead_runs(session, now=deps.clock.now(), wall_now=deps.wall_clock.now(), lease=deps.run_lease)
