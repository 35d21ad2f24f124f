"""`csdesk run`, `csdesk worker` and `csdesk runs`: agent cycles from the terminal, with progress and a
summary, and the record of past ones."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.cycle import CycleSummary, run_cycle
from agents.watch import WatchPass, watch
from server.context import AppContext, open_app
from server.settings import Settings
from store.errors import InvalidInput
from store.events.retention import prune
from store.runs.agent_runs import WORKER_KIND, RunLine, recent_runs

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_interval(text: str) -> timedelta:
    """"90s", "30m", "1h" or "1d" as a timedelta of at least a minute.

    Raises:
        InvalidInput: the text is not such an interval.
    """
    match = _DURATION.match(text)
    if not match:
        raise InvalidInput(f"--every must look like 30m, 1h or 1d; got {text!r}")
    interval = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if interval < timedelta(minutes=1):
        raise InvalidInput("--every must be at least 1m")
    return interval


def describe_engine(app: AppContext) -> str:
    if app.model is None:
        return "the rules engine (no model configured: set CSDESK_LLM_MODEL to add one)"
    where = app.settings.llm_base_url or "the OpenAI API"
    return f"model {app.model.name} at {where}, checked against the rules engine"


def progress_columns() -> tuple[ProgressColumn, ...]:
    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()


@contextlib.contextmanager
def seeding_progress(console: Console) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for seeding the demo portfolio; it appears once the first chunk is written, so an
    existing portfolio (nothing to seed) shows none."""
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        bar: list[TaskID] = []

        def on_progress(done: int, total: int) -> None:
            if not bar:
                bar.append(progress.add_task("Seeding accounts", total=total))
            progress.update(bar[0], completed=done)

        yield on_progress


async def cycle_with_progress(app: AppContext, console: Console, *, force: bool = False,
                              worker: bool = False) -> CycleSummary:
    console.print(f"Assessing with {describe_engine(app)}.", highlight=False)
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        bar = progress.add_task("Assessing accounts", total=None)
        summary = await run_cycle(app.agent_deps(), force=force, worker=worker,
                                  on_start=lambda total: progress.update(bar, total=total),
                                  on_done=lambda _outcome: progress.advance(bar))
    console.print(summary_table(summary))
    return summary


def summary_table(summary: CycleSummary) -> Table:
    table = Table(title=f"Agent run {summary.run_id}", title_justify="left", show_header=False)
    rows = [("accounts", summary.accounts), ("assessed", summary.assessed),
            ("skipped as unchanged", summary.skipped_unchanged), ("status changes", summary.status_changes),
            ("warnings raised", summary.warnings), ("notifications", summary.notifications),
            ("tasks created", summary.tasks), ("drafts for review", summary.drafts),
            ("model fallbacks to rules", summary.fallbacks),
            ("failures", summary.failures),
            ("model tokens (prompt / completion)", f"{summary.prompt_tokens} / {summary.completion_tokens}"),
            ("time", f"{summary.seconds:.2f} s ({summary.accounts_per_second:,.0f} accounts/s)")]
    for label, value in rows:
        table.add_row(label, str(value))
    return table


async def latest_runs(settings: Settings, *, limit: int) -> list[RunLine]:
    """The latest agent runs, newest first, each with how it ended and what it did."""
    async with open_app(settings) as app:
        deps = app.agent_deps()
        async with app.read_sessions() as session:
            return await recent_runs(session, wall_now=deps.wall_clock.now(), lease=deps.run_lease, limit=limit)


def runs_table(runs: list[RunLine]) -> Table:
    table = Table(title="Agent runs, newest first", title_justify="left")
    for column in ("run", "started (UTC)", "took", "assessed", "failed"):
        table.add_column(column, no_wrap=True, justify="left" if column in {"run", "started (UTC)"} else "right")
    table.add_column("status", overflow="fold")
    for line in runs:
        status = line.status
        if line.ended:
            status = f"running, but its process ({line.pid}) on this machine has ended: interrupted"
        elif line.silent:
            status = f"running, but silent since {_moment(line.heartbeat_at or line.started_at)}: likely killed"
        elif line.error:
            status = f"{status}: {line.error}"
        took = "—" if line.seconds is None else f"{line.seconds:,.1f} s"
        assessed = "—" if line.assessed is None else f"{line.assessed:,} of {line.accounts or 0:,}"
        table.add_row(f"{line.id}{' worker' if line.kind == WORKER_KIND else ''}", _moment(line.started_at), took,
                      assessed, "—" if line.failures is None else f"{line.failures:,}", status)
    return table


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


async def run_once(settings: Settings, console: Console, *, force: bool, worker: bool = False) -> CycleSummary:
    async with open_app(settings) as app:
        return await cycle_with_progress(app, console, force=force, worker=worker)


async def run_worker(settings: Settings, console: Console, *, every: timedelta, watch: bool = False) -> None:
    """Run a cycle now and then every `every` until SIGINT or SIGTERM; a running cycle finishes first.
    With `watch`, assess the accounts marked as changed (by events and imports) within seconds between
    cycles, and prune product events older than CSDESK_EVENTS_KEEP_DAYS after each cycle."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stop.set)
    if watch:
        await _watch_worker(settings, console, every=every, stop=stop)
        return
    async with open_app(settings) as app:
        while not stop.is_set():
            await cycle_with_progress(app, console)
            console.print(f"Next cycle in {every}. Ctrl-C stops the worker.", highlight=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())


async def _watch_worker(settings: Settings, console: Console, *, every: timedelta, stop: asyncio.Event) -> None:
    async with open_app(settings) as app:
        deps = app.agent_deps()
        next_cycle = deps.wall_clock.now()

        async def cycle_when_due() -> None:
            nonlocal next_cycle
            if deps.wall_clock.now() < next_cycle or stop.is_set():
                return
            await cycle_with_progress(app, console)
            pruned = await prune_events(app, keep=timedelta(days=settings.events_keep_days))
            if pruned:
                console.print(f"Pruned {pruned:,} product events older than {settings.events_keep_days} days.")
            next_cycle = deps.wall_clock.now() + every
            console.print(f"Watching for changed accounts; next full cycle in {every}. Ctrl-C stops the worker.",
                          highlight=False)

        def report(done: WatchPass) -> None:
            console.print(f"{deps.wall_clock.now():%H:%M:%S} assessed {done.assessed} of {done.claimed} changed "
                          "account(s)", highlight=False)

        await watch(deps, stop, poll_seconds=settings.watch_poll_seconds, on_pass=report, between=cycle_when_due,
                    current_deps=app.agent_deps)


async def prune_events(app: AppContext, *, keep: timedelta) -> int:
    async with app.write_sessions() as session, session.begin():
        return await prune(session, before=app.clock.now() - keep)
