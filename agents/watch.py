"""The watch: assess the accounts that ingestion and imports marked as changed, within seconds, without
scanning the portfolio. Each pass claims a batch of marked accounts (store.runs.account_marks), assesses
them exactly as a cycle does (so early warnings and playbooks fire, deduplicated as in a cycle) and
clears the marks it took in. The watch is one agent run, kind "watch", kept alive by its heartbeat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.assessment import AccountOutcome, agent_principal, assess_each
from agents.cycle import CycleTally, refresh_portfolio_figures
from agents.deps import AgentDeps
from store.events.rollup import roll_up_all
from store.runs.account_marks import claim_marked, finish_marked
from store.runs.agent_runs import beat, close_run, open_run

logger = logging.getLogger(__name__)
# Marked accounts one pass claims: a few write batches, so several watchers share a burst evenly.
CLAIM_BATCH = 200
# An idle watch that has assessed accounts brings the dashboard's stored figures up to date at most this
# often (seconds): computing them reads the whole portfolio (3 s at 100,000 accounts).
FIGURES_EVERY_SECONDS = 300


@dataclass
class WatchPass:
    claimed: int
    assessed: int


async def watch(deps: AgentDeps, stop: asyncio.Event, *, poll_seconds: float,
                on_pass: Callable[[WatchPass], None] | None = None,
                between: Callable[[], Awaitable[None]] | None = None,
                current_deps: Callable[[], AgentDeps] | None = None) -> CycleTally:
    """Assess marked accounts until `stop` is set, looking every `poll_seconds` when none are marked.
    `between`, when given, is awaited between passes (the worker runs its scheduled full cycle there);
    `current_deps`, when given, is asked before each pass (so a changed health model file takes effect)."""
    async with deps.write_sessions() as session, session.begin():
        run_id = await open_run(session, kind="watch", now=deps.clock.now(), wall_now=deps.wall_clock.now(),
                                lease=deps.run_lease)
    tally = CycleTally()
    status = "interrupted"
    last_beat = last_figures = deps.wall_clock.now()
    assessed_since_figures = 0
    try:
        while not stop.is_set():
            if current_deps is not None:
                deps = current_deps()
            done = await assess_marked(deps, claimer=run_id, on_done=tally.add)
            if on_pass is not None and done.claimed:
                on_pass(done)
            assessed_since_figures += done.assessed
            idle_for = (deps.wall_clock.now() - last_figures).total_seconds()
            if not done.claimed and assessed_since_figures and idle_for >= FIGURES_EVERY_SECONDS:
                await refresh_portfolio_figures(deps)
                last_figures, assessed_since_figures = deps.wall_clock.now(), 0
            if between is not None:
                await between()
            if deps.wall_clock.now() - last_beat >= deps.run_lease / 4:
                async with deps.write_sessions() as session, session.begin():
                    await beat(session, run_id=run_id, wall_now=deps.wall_clock.now())
                last_beat = deps.wall_clock.now()
            if not done.claimed:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
                except TimeoutError:
                    pass
        status = "completed"
    finally:
        summary = tally.summary(run_id, 0.0)
        async with deps.write_sessions() as session, session.begin():
            await close_run(session, run_id=run_id, status=status, now=deps.clock.now(),
                            counts=summary.model_dump(exclude={"run_id"}))
    return tally


async def assess_marked(deps: AgentDeps, *, claimer: int, limit: int = CLAIM_BATCH,
                        on_done: Callable[[AccountOutcome], None] | None = None) -> WatchPass:
    """Count stored product events into usage (marking the accounts they changed), then claim up to
    `limit` marked accounts, assess those whose signals changed, and clear their marks."""
    await roll_up_all(deps.write_sessions, now=deps.wall_clock.now())
    async with deps.write_sessions() as session, session.begin():
        claimed = await claim_marked(session, claimer=claimer, now=deps.wall_clock.now(), lease=deps.run_lease,
                                     limit=limit)
    if not claimed:
        return WatchPass(claimed=0, assessed=0)
    assessed = 0

    def collect(outcome: AccountOutcome) -> None:
        nonlocal assessed
        assessed += outcome.assessed
        if on_done is not None:
            on_done(outcome)

    await assess_each(deps, [item.account_id for item in claimed], run_id=claimer, on_done=collect,
                      agent=await agent_principal(deps))
    async with deps.write_sessions() as session, session.begin():
        await finish_marked(session, claimed, claimer=claimer, now=deps.wall_clock.now())
    return WatchPass(claimed=len(claimed), assessed=assessed)
