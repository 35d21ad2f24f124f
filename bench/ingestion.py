"""Live product events: `csdesk serve --http` taking Segment batches from concurrent senders, and
`csdesk worker --watch` turning them into assessments.

On a copy of the benchmark portfolio (20 product users an account, mapped by group calls first):
- sustained ingestion: SENDERS senders post 500-event track batches for SECONDS seconds, a tenth of
  them sent twice (a retry); events accepted per second, batch latency p50/p99, and the check that
  every event sent is stored once and rolled up once;
- the floor: the same events inserted by a bare `executemany` (SQLite) or `COPY` (PostgreSQL) into
  product_events on one connection, with none of the checking, deduplication or roll-up;
- event to assessment: with `csdesk worker --watch` running, batches for accounts spread over the
  portfolio, and the lag each account's mark records from receipt to the assessment that took it in.

Targets: at least 20,000 events/s accepted, p99 batch latency under 250 ms, 0 lost, 0 doubled; lag
p50 under 5 s, p99 under 15 s.

`.venv/bin/python -m bench.ingestion [--accounts 10000] [--database-url postgresql+asyncpg://…]
[--servers 2]` (two stateless server processes behind one address: senders alternate between them).
The events are stamped in the month before the current one: every batch then changes a month the
usage signals grade (a month still being counted is not graded in its first six days).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, text

from bench.latency import CSDESK, free_port, server_env
from bench.portfolio import MANAGER, NOW, ensure_portfolio, settings_for
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.database.models import Account

SIZE = 10_000
USERS_PER_ACCOUNT = 20
BATCH = 500
SENDERS = 4
SECONDS = 60
RESEND_SHARE = 0.10
LAG_SECONDS = 30
LAG_BATCHES_PER_SECOND = 4
# Each batch of the lag phase is the activity of this many accounts: a change that re-assesses an
# account (here, to a month the signals grade) comes for some accounts at a time, not all of them.
LAG_ACCOUNTS_PER_BATCH = 25
TARGET_EVENTS_PER_SECOND = 20_000
TARGET_P99_MS = 250
TARGET_LAG_P50 = 5.0
TARGET_LAG_P99 = 15.0
FEATURES = ("Report Exported", "Dashboard Viewed", "Alert Created", "Invite Sent", "Filter Saved", "API Called")


@dataclass
class Sent:
    batches: int = 0
    resent: int = 0
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = server_env(settings, CSDESK_STATELESS_HTTP="true", CSDESK_SESSION_SECRET="bench", **extra)
    env.pop("CSDESK_TODAY")  # events arrive in real time: the server and the watch read as of now
    return env


@contextmanager
def servers(env: dict[str, str], count: int, logs: Path) -> Iterator[list[str]]:
    with ExitStack() as stack:
        urls = []
        for number in range(count):
            port = free_port()
            log = stack.enter_context((logs / f"server-{number}.log").open("w"))
            process = subprocess.Popen([CSDESK, "serve", "--http", "--port", str(port)], env=env,
                                       stdout=log, stderr=log, text=True)
            stack.callback(_stop, process)
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
            urls.append(f"http://127.0.0.1:{port}")
        yield urls


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited; see its log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def _accounts(settings: Settings) -> list[tuple[int, str]]:
    async with open_app(settings, clock=FixedClock(NOW)) as app, app.read_sessions() as session:
        return [(row.id, row.domain) for row in await session.execute(
            select(Account.id, Account.domain).where(Account.status == "active", Account.domain.is_not(None))
            .order_by(Account.id))]


def _last_month() -> str:
    """A moment in the month before this one."""
    return (datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
            - timedelta(days=12)).isoformat()


def _track_batch(prefix: str, accounts: list[tuple[int, str]], rng: random.Random, stamp: str,
                 spread: int | None = None) -> str:
    """BATCH track events for users of random accounts (of `spread` random accounts, when given)."""
    chosen = accounts if spread is None else rng.sample(accounts, spread)
    events = []
    for number in range(BATCH):
        account_id, _ = chosen[rng.randrange(len(chosen))]
        events.append(f'{{"type":"track","userId":"u{account_id}-{rng.randrange(USERS_PER_ACCOUNT)}",'
                      f'"event":"{FEATURES[number % len(FEATURES)]}","messageId":"{prefix}-{number}",'
                      f'"timestamp":"{stamp}","properties":{{"plan":"pro","n":{number}}}}}')
    return '{"batch":[' + ",".join(events) + "]}"


def map_users(urls: list[str], key: str, accounts: list[tuple[int, str]]) -> float:
    """Group every product user into their account; returns the seconds it took."""
    started = time.perf_counter()
    events = [{"type": "group", "userId": f"u{account_id}-{user}", "groupId": domain,
               "messageId": f"g{account_id}-{user}"}
              for account_id, domain in accounts for user in range(USERS_PER_ACCOUNT)]
    with httpx.Client(auth=(key, ""), timeout=60) as client:
        for start in range(0, len(events), BATCH):
            answer = client.post(f"{urls[start // BATCH % len(urls)]}/v1/batch",
                                 content=json.dumps({"batch": events[start:start + BATCH]}),
                                 headers={"Content-Type": "application/json"})
            if answer.status_code != 200:
                raise SystemExit(f"mapping users failed: {answer.text}")
    return time.perf_counter() - started


def send_for(urls: list[str], key: str, accounts: list[tuple[int, str]], *, seconds: float, senders: int,
             resend_share: float, per_second: float | None = None, prefix: str = "s",
             spread: int | None = None, last_month: bool = False) -> tuple[Sent, float, list[str]]:
    """`senders` threads posting track batches for `seconds` (stamped now, or in the month before this
    one); returns what was sent, the wall time and the bodies of the batches that got 200 (for the floor)."""
    stamp = _last_month() if last_month else datetime.now(UTC).isoformat()
    sent = Sent()
    bodies: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def sender(number: int) -> None:
        rng = random.Random(number)
        cycle = itertools.cycle(urls[number % len(urls):] + urls[:number % len(urls)])
        with httpx.Client(auth=(key, ""), timeout=60,
                          headers={"Content-Type": "application/json"}) as client:
            for batch in itertools.count():
                if time.perf_counter() >= stop_at:
                    return
                body = _track_batch(f"{prefix}{number}-{batch}", accounts, rng, stamp, spread)
                for attempt in range(2 if rng.random() < resend_share else 1):
                    started = time.perf_counter()
                    answer = client.post(f"{next(cycle)}/v1/batch", content=body)
                    elapsed = time.perf_counter() - started
                    with lock:
                        if answer.status_code != 200:
                            sent.failures.append(answer.text[:200])
                            continue
                        sent.latencies.append(elapsed)
                        if attempt:
                            sent.resent += 1
                        else:
                            sent.batches += 1
                            sent.events += BATCH
                            bodies.append(body)
                if per_second:
                    time.sleep(max(0.0, senders / per_second - (time.perf_counter() - started)))

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, time.perf_counter() - started, bodies


async def stored_counts(settings: Settings) -> tuple[int, int]:
    """Track events stored, and events rolled up into usage counters, once the roll-up has caught up."""
    async with open_app(settings, clock=FixedClock(NOW)) as app, app.read_sessions() as session:
        deadline = time.monotonic() + 900
        while await session.scalar(text("SELECT count(*) FROM product_events WHERE state = 0")) and \
                time.monotonic() < deadline:
            await session.rollback()
            await asyncio.sleep(0.1)
        stored = await session.scalar(text("SELECT count(*) FROM product_events WHERE type = 'track'"))
        rolled = await session.scalar(text("SELECT coalesce(sum(events), 0) FROM event_usage"))
        return stored or 0, rolled or 0


def sqlite_floor(database: Path, bodies: list[str]) -> float:
    rows = _floor_rows(bodies)
    copy = database.with_name("floor.db")
    shutil.copy(database, copy)
    connection = sqlite3.connect(copy, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("DELETE FROM product_events")
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO product_events (message_id, type, user_key, name, feature, occurred_at, "
                           "received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(m, t, u, n, n, o.replace("T", " "), o.replace("T", " "), b) for m, t, u, n, o, b in rows])
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    copy.unlink()
    return seconds


async def postgres_floor(database_url: str, bodies: list[str]) -> float:
    import asyncpg
    rows = [(m, t, u, n, n, datetime.fromisoformat(o), datetime.fromisoformat(o), b)
            for m, t, u, n, o, b in _floor_rows(bodies)]
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("CREATE TEMP TABLE floor_events (LIKE product_events INCLUDING DEFAULTS)")
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "floor_events", records=rows,
            columns=["message_id", "type", "user_key", "name", "feature", "occurred_at", "received_at", "body"])
        return time.perf_counter() - started
    finally:
        await connection.close()


def _floor_rows(bodies: list[str]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for body in bodies:
        for event in json.loads(body)["batch"]:
            rows.append((event["messageId"] + "-floor", "track", event["userId"], event["event"], event["timestamp"],
                         json.dumps(event, separators=(",", ":"))))
    return rows


@contextmanager
def watch_worker(env: dict[str, str]) -> Iterator[None]:
    """`csdesk worker --watch`, past its first full cycle; stopped with SIGINT afterwards."""
    worker = subprocess.Popen([CSDESK, "worker", "--watch"], env={**env, "CSDESK_WATCH_POLL_SECONDS": "0.5"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if line.startswith("Watching"):
                break
        threading.Thread(target=lambda: [None for _ in worker.stdout], daemon=True).start()
        yield
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=120)


def measure_lag(settings: Settings, urls: list[str], key: str, accounts: list[tuple[int, str]]) -> list[str]:
    since = datetime.now(UTC)
    sent, seconds, _ = send_for(urls, key, accounts, seconds=LAG_SECONDS, senders=2, resend_share=0.0,
                                per_second=LAG_BATCHES_PER_SECOND, prefix="lag", spread=LAG_ACCOUNTS_PER_BATCH,
                                last_month=True)
    time.sleep(20)  # the last batches' accounts are assessed
    lags = asyncio.run(_lags(settings, since))
    if not lags:
        return ["  event to assessment: no account was assessed after a change"]
    p50, p99 = _quantile(lags, 0.5), _quantile(lags, 0.99)
    return [f"  event to assessment with `csdesk worker --watch` ({sent.events:,} events in {sent.batches} batches "
            f"over {seconds:.0f} s, {len(lags):,} account assessments): p50 {p50:.2f} s "
            f"(target {TARGET_LAG_P50:.0f}: {'met' if p50 < TARGET_LAG_P50 else 'MISSED'}), p99 {p99:.2f} s "
            f"(target {TARGET_LAG_P99:.0f}: {'met' if p99 < TARGET_LAG_P99 else 'MISSED'}), max {lags[-1]:.2f} s"]


async def _lags(settings: Settings, since: datetime) -> list[float]:
    async with open_app(settings, clock=FixedClock(NOW)) as app, app.read_sessions() as session:
        rows = await session.execute(text("SELECT lag_seconds FROM account_marks WHERE assessed_at >= :since "
                                          "AND lag_seconds IS NOT NULL"), {"since": since})
        return sorted(float(lag) for (lag,) in rows)


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(accounts: int, database_url: str | None, server_count: int = 1, watch: bool = True) -> list[str]:
    """With `watch`, a watch worker runs beside the servers (and does the roll-up); without, the servers
    roll up themselves and the lag is not measured."""
    built = asyncio.run(ensure_portfolio(settings_for(accounts, database_url), accounts))
    lines = [f"  {built}"]
    with scratch_copy(settings_for(accounts, database_url)) as settings:
        env = _env(settings)
        key = subprocess.run([CSDESK, "tokens", "create", "--ingest", "--name", "bench", "--user", MANAGER], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        owned = asyncio.run(_accounts(settings))
        logs = Path(tempfile.mkdtemp(prefix="csdesk-bench-events-logs-"))
        with ExitStack() as stack:
            urls = stack.enter_context(servers(env, server_count, logs))
            mapping = map_users(urls, key, owned)
            lines.append(f"  {len(owned) * USERS_PER_ACCOUNT:,} product users grouped into {len(owned):,} accounts "
                         f"in {mapping:.1f} s")
            asyncio.run(stored_counts(settings))
            if watch:
                stack.enter_context(watch_worker(env))
            before, rolled_before = asyncio.run(stored_counts(settings))
            sent, seconds, bodies = send_for(urls, key, owned, seconds=SECONDS, senders=SENDERS,
                                             resend_share=RESEND_SHARE)
            last_batch_at = time.perf_counter()
            stored, rolled = asyncio.run(stored_counts(settings))
            caught_up = time.perf_counter() - last_batch_at
            latencies = sorted(sent.latencies)
            rate = sent.events / seconds
            p50, p99 = statistics.median(latencies) * 1000, _quantile(latencies, 0.99) * 1000
            lost = sent.events - (stored - before)
            counted = rolled - rolled_before
            lines += [
                f"  {SENDERS} senders, {BATCH}-event batches, {seconds:.0f} s, {server_count} server process(es)"
                f"{', a watch worker' if watch else ', no worker (the server rolls up)'}: "
                f"{sent.events:,} events accepted = {rate:,.0f} events/s (target {TARGET_EVENTS_PER_SECOND:,}: "
                f"{'met' if rate >= TARGET_EVENTS_PER_SECOND else 'MISSED'}); batch latency p50 {p50:.0f} ms, "
                f"p99 {p99:.0f} ms (target {TARGET_P99_MS}: {'met' if p99 < TARGET_P99_MS else 'MISSED'})",
                f"    {sent.batches:,} batches, {sent.resent:,} resent; stored {stored - before:,} new events "
                f"(lost {lost:,}, doubled {max(0, -lost):,}); rolled up {counted:,} (the roll-up caught up "
                f"{caught_up:.1f} s after the last batch); refused or failed "
                f"{len(sent.failures)}" + (f": {sent.failures[0]} (server logs in {logs})" if sent.failures else "")]
            floor = sqlite_floor(Path(settings.db_path), bodies) if database_url is None else \
                asyncio.run(postgres_floor(settings.resolved_database_url, bodies))
            lines.append(f"    floor: the same {sent.events:,} events by a bare "
                         f"{'executemany' if database_url is None else 'COPY'} in {floor:.1f} s "
                         f"({sent.events / floor:,.0f} events/s); ingestion is {seconds / floor:.1f}x it")
            if watch:
                lines.append(drain_backlog(settings, since_last_batch=time.perf_counter() - last_batch_at))
                lines += measure_lag(settings, urls, key, owned)
    return lines


BACKLOG_TIMEOUT_SECONDS = 900


def drain_backlog(settings: Settings, *, since_last_batch: float) -> str:
    """Wait until the watch worker has assessed every account the sustained phase marked, so that the lag
    phase times fresh changes rather than that backlog (how many accounts a sustained feed re-assesses
    depends on the day of the month: a month in progress is graded only after its sixth day)."""
    started = time.perf_counter()
    marked = asyncio.run(_pending_marks(settings))
    left = marked
    while left and time.perf_counter() - started < BACKLOG_TIMEOUT_SECONDS:
        time.sleep(1)
        left = asyncio.run(_pending_marks(settings))
    took = since_last_batch + time.perf_counter() - started
    if left:
        return f"  the watch worker had {left:,} accounts still to assess {took:.0f} s after the last batch"
    return (f"  the watch worker had {marked:,} accounts changed by the sustained phase still to assess when it "
            f"ended; all assessed {took:.0f} s after the last batch")


async def _pending_marks(settings: Settings) -> int:
    async with open_app(settings, clock=FixedClock(NOW)) as app, app.read_sessions() as session:
        return (await session.execute(text("SELECT count(*) FROM account_marks WHERE pending_since IS NOT NULL"))
                ).scalar_one()


@contextmanager
def scratch_copy(settings: Settings) -> Iterator[Settings]:
    """The portfolio copied to a scratch SQLite file or PostgreSQL database (from it as a template), so
    the events change nothing the other benchmarks read."""
    with tempfile.TemporaryDirectory(prefix="csdesk-bench-events-") as folder:
        if not settings.database_url:
            database = Path(folder) / "portfolio.db"
            shutil.copy(settings.db_path, database)
            yield Settings(db_path=database)
            return
        source = settings.database_url.rsplit("/", 1)[1]
        copy = f"{source}_events"
        asyncio.run(_admin(settings.database_url, f'DROP DATABASE IF EXISTS "{copy}"',
                           f'CREATE DATABASE "{copy}" TEMPLATE "{source}"'))
        try:
            yield Settings(database_url=settings.database_url.rsplit("/", 1)[0] + f"/{copy}")
        finally:
            asyncio.run(_admin(settings.database_url, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))


async def _admin(database_url: str, *statements: str) -> None:
    from store.database.engine import create_engine
    engine = create_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=SIZE)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--no-watch", action="store_true", help="no watch worker: the server rolls up")
    args = parser.parse_args()
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"Product events on {where}, {args.accounts:,} accounts, {os.cpu_count()} CPUs:")
    for line in report(args.accounts, args.database_url, args.servers, watch=not args.no_watch):
        print(line, flush=True)


if __name__ == "__main__":
    main()
