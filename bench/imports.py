"""Import throughput: `csdesk import usage` and `csdesk import tickets` as their own processes on a
portfolio's accounts, against a floor — the same rows written by a bare `executemany` (SQLite) or
`COPY` (PostgreSQL) on one connection, with none of the reading, checking or upserting.

`.venv/bin/python -m bench.imports --accounts 100000` (10 usage rows and 5 tickets an account: 1,000,000
and 500,000 rows); `--database-url postgresql+asyncpg://…` for PostgreSQL (an empty database: the
portfolio is built there first). Targets: at least 50,000 rows/s on SQLite, within 3x of the floor,
peak RSS under 400 MB (the file is streamed, never read whole).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bench.latency import CSDESK, server_env
from bench.portfolio import MANAGER, NOW, ensure_portfolio, settings_for
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.database.models import Account

USAGE_MONTHS = 10
TICKETS_PER_ACCOUNT = 5
TARGET_ROWS_PER_SECOND = 50_000
TARGET_FLOOR_RATIO = 3.0
TARGET_RSS_MB = 400


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_mb: float
    output: str


async def _accounts(settings: Settings) -> list[tuple[int, str]]:
    async with open_app(settings, clock=FixedClock(NOW)) as app, app.read_sessions() as session:
        return [(row.id, row.domain) for row in await session.execute(
            select(Account.id, Account.domain).where(Account.status == "active", Account.domain.is_not(None))
            .order_by(Account.id))]


def write_files(folder: Path, accounts: list[tuple[int, str]]) -> tuple[Path, Path]:
    """The usage and tickets files, streamed to disk: the benchmark holds none of their rows while
    `csdesk import` runs, so the child's peak RSS is its own (a forked child starts with its parent's)."""
    usage_path, tickets_path = folder / "usage.csv", folder / "tickets.csv"
    with usage_path.open("w", newline="") as usage, tickets_path.open("w", newline="") as tickets:
        usage_out, ticket_out = csv.writer(usage), csv.writer(tickets)
        usage_out.writerow(["account", "period", "active_users", "usage_count", "features_adopted"])
        ticket_out.writerow(["account", "ticket_id", "subject", "opened_at", "closed_at", "priority"])
        for account_id, domain in accounts:
            for month in range(1, USAGE_MONTHS + 1):
                usage_out.writerow([domain, f"2024-{month:02d}", 10 + account_id % 90,
                                    100 + (account_id * month) % 5000, month % 12])
            for number in range(TICKETS_PER_ACCOUNT):
                ticket_out.writerow([domain, f"T{account_id}-{number}", "Question about exports",
                                     f"2025-{number + 1:02d}-03T09:00:00Z", f"2025-{number + 1:02d}-05T17:00:00Z",
                                     "normal"])
    return usage_path, tickets_path


def floor_rows(usage_path: Path, tickets_path: Path,
               accounts: list[tuple[int, str]]) -> tuple[list[tuple], list[tuple]]:
    """The files' rows as the floor writes them: account ids resolved, values as the database stores them."""
    ids = {domain: account_id for account_id, domain in accounts}
    with usage_path.open(newline="") as usage, tickets_path.open(newline="") as tickets:
        usage_rows = [(ids[r[0]], f"{r[1]}-01", int(r[2]), int(r[3]), int(r[4])) for r in list(csv.reader(usage))[1:]]
        ticket_rows = [(ids[r[0]], r[1], r[2], r[3].replace("T", " ").replace("Z", ".000000"),
                        r[4].replace("T", " ").replace("Z", ".000000"), r[5], 0) for r in list(csv.reader(tickets))[1:]]
    return usage_rows, ticket_rows


def csdesk_import(settings: Settings, kind: str, path: Path) -> Run:
    env = server_env(settings)
    started = time.perf_counter()
    process = subprocess.Popen([CSDESK, "import", kind, str(path), "--as", MANAGER], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"csdesk import {kind} failed:\n{output[-3000:]}")
    return Run(seconds=seconds, rss_mb=usage.ru_maxrss / 1024, output=output.strip().splitlines()[-1])


def sqlite_floor(database: Path, usage_rows: list[tuple], ticket_rows: list[tuple]) -> tuple[float, float]:
    """Seconds to write the usage rows and the ticket rows with executemany in one transaction each."""
    copy = database.with_name("floor.db")
    shutil.copy(database, copy)
    connection = sqlite3.connect(copy, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    timings = []
    for statement, rows in (
            ("INSERT INTO usage_snapshots (account_id, period_start, active_users, usage_count, features_adopted) "
             "VALUES (?, ?, ?, ?, ?)", usage_rows),
            ("INSERT INTO support_tickets (account_id, external_id, subject, opened_at, closed_at, priority, "
             "escalated) VALUES (?, ?, ?, ?, ?, ?, ?)", ticket_rows)):
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, rows)
        connection.execute("COMMIT")
        timings.append(time.perf_counter() - started)
    connection.close()
    copy.unlink()
    return timings[0], timings[1]


async def postgres_floor(database_url: str, usage_rows: list[tuple], ticket_rows: list[tuple]) -> tuple[float, float]:
    """Seconds to COPY the same rows into scratch copies of the two tables."""
    from datetime import datetime

    import asyncpg
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    timings = []
    try:
        for table, columns, rows in (
                ("usage_snapshots", ["account_id", "period_start", "active_users", "usage_count", "features_adopted"],
                 [(a, date.fromisoformat(p), u, c, f) for a, p, u, c, f in usage_rows]),
                ("support_tickets", ["account_id", "external_id", "subject", "opened_at", "closed_at", "priority",
                                     "escalated"],
                 [(a, e, s, datetime.fromisoformat(o + "+00:00"), datetime.fromisoformat(c + "+00:00"), p, bool(x))
                  for a, e, s, o, c, p, x in ticket_rows])):
            await connection.execute(f"CREATE TEMP TABLE floor_{table} (LIKE {table} INCLUDING DEFAULTS)")
            started = time.perf_counter()
            await connection.copy_records_to_table(f"floor_{table}", records=rows, columns=columns)
            timings.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return timings[0], timings[1]


def report(accounts: int, database_url: str | None) -> list[str]:
    settings = settings_for(accounts, database_url)
    built = asyncio.run(ensure_portfolio(settings, accounts))
    lines = [f"  {built}"]
    with tempfile.TemporaryDirectory(prefix="csdesk-bench-import-") as folder:
        work = Path(folder)
        if database_url is None:
            database = work / "portfolio.db"
            shutil.copy(settings.db_path, database)
            settings = Settings(db_path=database, today=settings.today)
        owned = asyncio.run(_accounts(settings))
        if database_url is None:
            pristine = work / "pristine.db"  # the floor writes into the portfolio as it was before the imports
            shutil.copy(settings.db_path, pristine)
        usage_path, tickets_path = write_files(work, owned)
        runs = {kind: (csdesk_import(settings, kind, path), csdesk_import(settings, kind, path))
                for kind, path in (("usage", usage_path), ("tickets", tickets_path))}
        usage_rows, ticket_rows = floor_rows(usage_path, tickets_path, owned)
        floors = sqlite_floor(pristine, usage_rows, ticket_rows) if database_url is None else \
            asyncio.run(postgres_floor(database_url, usage_rows, ticket_rows))
        for kind, path, rows, floor in (("usage", usage_path, usage_rows, floors[0]),
                                        ("tickets", tickets_path, ticket_rows, floors[1])):
            size_mb = path.stat().st_size / 1_048_576
            first, again = runs[kind]
            rate = len(rows) / first.seconds
            verdict = "met" if rate >= TARGET_ROWS_PER_SECOND else "MISSED"
            ratio = first.seconds / floor
            within = "met" if ratio <= TARGET_FLOOR_RATIO else "MISSED"
            memory = "met" if first.rss_mb < TARGET_RSS_MB else "MISSED"
            lines += [
                f"  {kind}: {len(rows):,} rows ({size_mb:.0f} MB) in {first.seconds:.1f} s = {rate:,.0f} rows/s "
                f"(target {TARGET_ROWS_PER_SECOND:,}: {verdict}); floor {floor:.1f} s "
                f"({len(rows) / floor:,.0f} rows/s), {ratio:.1f}x it (target {TARGET_FLOOR_RATIO:.0f}x: {within}); "
                f"peak RSS {first.rss_mb:.0f} MB (target {TARGET_RSS_MB}: {memory})",
                f"    {first.output}",
                f"    re-import, nothing changed: {again.seconds:.1f} s, peak RSS {again.rss_mb:.0f} MB; "
                f"{again.output}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"Imports on {where}, {args.accounts:,} accounts ({USAGE_MONTHS} usage rows and {TICKETS_PER_ACCOUNT} "
          "tickets an account), each `csdesk import` its own process:")
    for line in report(args.accounts, args.database_url):
        print(line)


if __name__ == "__main__":
    main()
