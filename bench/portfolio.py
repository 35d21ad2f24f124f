"""Benchmark portfolios: N demo accounts with one agent cycle run, built once and kept for later runs."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

from agents.cycle import run_cycle
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.database.engine import refresh_statistics
from store.demo.portfolio import seed_demo_portfolio

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CACHE = Path(os.environ.get("CSDESK_BENCH_CACHE", Path(__file__).parent / ".data"))
CSM = "ana.garcia@example.com"
MANAGER = "morgan.lee@example.com"


def settings_for(accounts: int, database_url: str | None = None) -> Settings:
    if database_url:
        return Settings(database_url=database_url, today=TODAY)
    return Settings(db_path=CACHE / f"portfolio-{accounts}.db", today=TODAY)


async def ensure_portfolio(settings: Settings, accounts: int) -> str:
    """Seed and assess the portfolio unless it is there already; says what it did and how long it took."""
    CACHE.mkdir(parents=True, exist_ok=True)
    async with open_app(settings, clock=FixedClock(NOW)) as app:
        started = time.perf_counter()
        async with app.write_sessions() as session, session.begin():
            seeded = await seed_demo_portfolio(session, today=TODAY, accounts=accounts)
        if not seeded.created:
            if seeded.accounts < accounts:
                raise SystemExit(f"{settings.describe_database()} holds {seeded.accounts} accounts, not {accounts}; "
                                 "point the benchmark at an empty database")
            return f"reused {settings.describe_database()} ({seeded.accounts} accounts)"
        await refresh_statistics(app.write_sessions)
        seed_seconds = time.perf_counter() - started
        cycle = await run_cycle(app.agent_deps())
    return (f"built {settings.describe_database()}: seed {seed_seconds:.1f} s, first cycle {cycle.seconds:.1f} s "
            f"({cycle.accounts_per_second:.0f} accounts/s)")
