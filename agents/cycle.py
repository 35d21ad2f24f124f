"""One agent cycle over the whole portfolio: assess what changed, fire playbooks, record the run."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pydantic import BaseModel

from agents.assessment import AccountOutcome, AgentDeps, agent_principal, assess_accounts
from store.agent_runs import (
    active_account_ids,
    beat,
    claim_accounts,
    close_dead_runs,
    close_run,
    finish_claims,
    join_cycle,
    open_run,
)
from store.db import refresh_statistics
from store.drafts import sweep_stale

logger = logging.getLogger(__name__)
# Accounts a worker claims at a time: a few write batches, so workers spread the cycle evenly.
CLAIM_BATCH = 200
# A cycle that assessed at least this many accounts refreshes PostgreSQL's statistics for the tables it
# rewrote. At 100,000 accounts the first cycle left the planner believing no account had a health
# status: the retention view took 3.8 ms instead of 0.4, the portfolio summary 2.6 s instead of 0.9.
STATISTICS_AFTER_ASSESSED = 1_000
REWRITTEN_TABLES = ("accounts", "assessments")


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


def summarise(run_id: int, outcomes: list[AccountOutcome], seconds: float) -> CycleSummary:
    assessed = [o for o in outcomes if o.assessed]
    return CycleSummary(
        run_id=run_id, accounts=len(outcomes), assessed=len(assessed),
        skipped_unchanged=sum(1 for o in outcomes if not o.assessed and o.error is None),
        status_changes=sum(1 for o in assessed if o.previous_status is not None and o.status != o.previous_status),
        warnings=sum(o.warnings for o in assessed), notifications=sum(o.notifications for o in assessed),
        tasks=sum(o.tasks for o in assessed), drafts=sum(o.drafts for o in assessed),
        fallbacks=sum(1 for o in assessed if o.fallback_reason),
        failures=sum(1 for o in outcomes if o.error is not None),
        prompt_tokens=sum(o.prompt_tokens for o in outcomes),
        completion_tokens=sum(o.completion_tokens for o in outcomes),
        seconds=round(seconds, 3),
    )


async def run_cycle(deps: AgentDeps, *, force: bool = False, on_start: Callable[[int], None] | None = None,
                    on_done: Callable[[AccountOutcome], None] | None = None, worker: bool = False) -> CycleSummary:
    """Assess every active account whose signals changed, then record the run.

    Each account's assessment, notifications and tasks commit together, so an interrupted cycle leaves
    whole assessments behind and the next cycle picks up the rest (unchanged ones are skipped).
    As a `worker`, the process joins the shared cycle and assesses only the batches it claims, so
    several workers split one cycle between them without doing any account twice.
    """
    started = time.perf_counter()
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
    outcomes: list[AccountOutcome] = []

    def collect(outcome: AccountOutcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    status, error = "interrupted", None
    try:
        if cycle_id is None:
            async with deps.read_sessions() as session:
                account_ids = await active_account_ids(session)
            if on_start is not None:
                on_start(len(account_ids))
            await assess_accounts(deps, account_ids, run_id=run_id, force=force, on_done=collect, agent=agent)
        else:
            # A worker the others took for dead (it stalled past its lease) claims no more: its batch
            # has gone back to them.
            while alive.is_set() and (ids := await _claim(deps, run_id, cycle_id)):
                await assess_accounts(deps, ids, run_id=run_id, force=force, on_done=collect, agent=agent,
                                      fenced=True)
                await _finish(deps, run_id)
        status = "completed"
        await _refresh_statistics(deps, assessed=sum(outcome.assessed for outcome in outcomes))
    finally:
        try:
            summary = summarise(run_id, outcomes, time.perf_counter() - started)
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
