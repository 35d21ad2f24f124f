"""Every benchmark in one run: tool latency by portfolio size (csdesk over stdio, HTTP and in process,
the raw-SQL floor, the generic SQL peer), the web desk's pages, agent cycles, memory and import
throughput at the largest size, live product events at 10,000 accounts, the health model's ranking of
churners, the context cost of the catalogue and its answers, and LLM-backed throughput against a local
model server; with
CSDESK_BENCH_POSTGRES_URL, tool latency, a cycle shared by workers, imports and live events on
PostgreSQL at 10,000 accounts.

`.venv/bin/python -m bench` (what `make bench` runs); `--accounts 1000 10000` for a shorter run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import context_cost, health, imports, ingestion, latency, model_throughput, pages, peer, workers
from bench.portfolio import settings_for

SIZES = (1_000, 10_000, 100_000)
POSTGRES_SIZE = 10_000
# Budget for an agent cycle over an unchanged portfolio of 100,000 accounts (wall seconds).
UNCHANGED_RERUN_BUDGET_SECONDS = 60
LOAD_TEST = "tests/server/test_load.py"


def csdesk_run(accounts: int, *extra: str) -> str:
    """`csdesk run` as its own process on the portfolio: its summary line, wall time and peak memory."""
    settings = settings_for(accounts)
    env = latency.server_env(settings)
    started = time.perf_counter()
    process = subprocess.Popen([latency.CSDESK, "run", *extra], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"csdesk run failed: {output[-500:]}")
    assessed = re.search(r"assessed\s*│\s*([\d,]+)", output)
    skipped = re.search(r"skipped as unchanged\s*│\s*([\d,]+)", output)
    label = "forced re-assessment" if extra else "unchanged re-run"
    line = (f"  csdesk run {' '.join(extra) or '(no flags)':8}: {label}, {seconds:6.1f} s wall "
            f"(assessed {assessed.group(1) if assessed else '?'}, skipped {skipped.group(1) if skipped else '?'}); "
            f"peak RSS {usage.ru_maxrss / 1024:,.0f} MB")
    if not extra and accounts >= 100_000:
        met = seconds < UNCHANGED_RERUN_BUDGET_SECONDS
        line += f"; budget < {UNCHANGED_RERUN_BUDGET_SECONDS} s: {'met' if met else 'MISSED'}"
    return line


def contended_writes() -> str:
    """The twenty-client test (tests/server/test_load.py) on SQLite: it fails on a lost update, an
    unaudited write or any error other than a reported conflict, "database is locked" included."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", LOAD_TEST],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    verdict = "passed: 0 lost updates, no error but conflicts reached a client" if done.returncode == 0 \
        else f"FAILED:\n{done.stdout[-2000:]}"
    return f"  20 clients reading and writing the same 3 accounts ({seconds:.1f} s): {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--calls", type=int, default=100, help="timed calls per tool and channel")
    args = parser.parse_args()
    print(f"{platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{datetime.now(UTC):%Y-%m-%d} · SQLite (WAL) unless noted", flush=True)
    for accounts in args.accounts:
        print(f"\n{accounts:,} accounts:", flush=True)
        latency.report(asyncio.run(latency.measure_size(accounts, None, args.calls)))
    largest = max(args.accounts)
    print(f"\nWeb desk pages on SQLite, {largest:,} accounts:", flush=True)
    pages.report(largest, asyncio.run(pages.measure_pages(settings_for(largest), largest, pages.CALLS)))
    print(f"\nAgent cycles at {largest:,} accounts (rules engine, each its own process):", flush=True)
    print(csdesk_run(largest), flush=True)
    print(csdesk_run(largest, "--force"), flush=True)
    print("\nContended writes (SQLite file):", flush=True)
    print(contended_writes(), flush=True)
    print(f"\nImports on SQLite, {largest:,} accounts ({imports.USAGE_MONTHS} usage rows and "
          f"{imports.TICKETS_PER_ACCOUNT} tickets an account), each `csdesk import` its own process:", flush=True)
    for line in imports.report(largest, None):
        print(line, flush=True)
    print(f"\nProduct events on SQLite, {ingestion.SIZE:,} accounts ({ingestion.USERS_PER_ACCOUNT} product users "
          "an account), `csdesk serve --http` and `csdesk worker --watch` each their own process:", flush=True)
    for line in ingestion.report(ingestion.SIZE, None):
        print(line, flush=True)
    print("\nThe health model against churn (a labelled portfolio and the demo):", flush=True)
    for line in health.labelled_figures(2000, seed=11) + asyncio.run(health.demo_figures()):
        print(line, flush=True)
    smallest = min(args.accounts)
    listing, answers = asyncio.run(context_cost.context_cost(smallest))
    peer_listing = asyncio.run(peer.peer_tools_list_size(Path(settings_for(smallest).db_path)))
    context_cost.report(listing, answers, peer_listing)
    print(f"\nLLM-backed assessment against the local test server answering after "
          f"{model_throughput.DELAY_SECONDS * 1000:.0f} ms:", flush=True)
    for line in asyncio.run(model_throughput.model_throughput()):
        print(line, flush=True)
    if postgres := os.environ.get("CSDESK_BENCH_POSTGRES_URL"):
        # One size on PostgreSQL (its portfolio then serves the workers' cycle too): building 100,000
        # accounts there takes minutes more, and `python -m bench.latency --database-url` measures any size.
        print(f"\n{POSTGRES_SIZE:,} accounts on PostgreSQL:", flush=True)
        latency.report(asyncio.run(latency.measure_size(POSTGRES_SIZE, postgres, args.calls)))
        print(f"\nWeb desk pages on PostgreSQL, {POSTGRES_SIZE:,} accounts:", flush=True)
        pages.report(POSTGRES_SIZE, asyncio.run(pages.measure_pages(settings_for(POSTGRES_SIZE, postgres),
                                                                     POSTGRES_SIZE, pages.CALLS)))
        print(f"\nShared forced cycle on PostgreSQL, {POSTGRES_SIZE:,} accounts:", flush=True)
        for line in workers.report(POSTGRES_SIZE, postgres):
            print(line, flush=True)
        print(f"\nImports on PostgreSQL, {POSTGRES_SIZE:,} accounts:", flush=True)
        for line in imports.report(POSTGRES_SIZE, postgres):
            print(line, flush=True)
        print(f"\nProduct events on PostgreSQL, {POSTGRES_SIZE:,} accounts:", flush=True)
        for line in ingestion.report(POSTGRES_SIZE, postgres):
            print(line, flush=True)


if __name__ == "__main__":
    main()
