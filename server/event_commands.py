"""`csdesk events`: the product-event feed's status, a rebuild of its usage, and pruning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rich.console import Console
from rich.table import Table

from server.context import open_app
from server.settings import Settings
from store.events.retention import Rebuilt, prune, rebuild
from store.events.status import EventsStatus, events_status


async def read_status(settings: Settings) -> EventsStatus:
    async with open_app(settings) as app, app.read_sessions() as session:
        return await events_status(session, now=datetime.now(UTC))


async def rebuild_usage(settings: Settings, *, since: date) -> Rebuilt:
    now = datetime.now(UTC)
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        return await rebuild(session, since=since, now=now, kept_from=now - timedelta(days=settings.events_keep_days))


async def prune_now(settings: Settings) -> int:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        return await prune(session, before=datetime.now(UTC) - timedelta(days=settings.events_keep_days))


def print_status(status: EventsStatus, console: Console) -> None:
    console.print(f"Last 24 hours: {status.received:,} events received, {status.rejected_requests:,} request(s) "
                  "refused.", highlight=False)
    if status.received_per_hour:
        table = Table("hour (UTC)", "events")
        for item in status.received_per_hour:
            table.add_row(item.hour, f"{item.events:,}")
        console.print(table)
    for item in status.rejected_reasons:
        console.print(f"  refused {item.requests:,}×: {item.reason}", highlight=False, markup=False)
    console.print(f"Product users: {status.users:,}, of them in no known account: {status.unmapped_users:,}; "
                  f"activity waiting for its account: {status.activity_awaiting_account:,} event(s); not yet "
                  f"counted: {status.not_yet_rolled_up:,}.",
                  highlight=False)
    for item in status.unmapped_groups:
        console.print(f"  groupId {item.group_id!r} ({item.users} user(s)) names no account: set it as an account's "
                      "external_id or domain, then `csdesk events rebuild --since DATE`",
                      highlight=False, markup=False)
    lag = ("no assessment after a change in the last 24 hours" if status.lag_p50_seconds is None else
           f"lag from change to assessment: p50 {status.lag_p50_seconds:.1f} s, p99 {status.lag_p99_seconds:.1f} s, "
           f"max {status.lag_max_seconds:.1f} s over {status.assessed_after_change:,} account(s)")
    waiting = (f"{status.accounts_pending:,} account(s) waiting for `csdesk worker --watch`"
               + (f", the oldest for {status.oldest_pending_seconds:,.0f} s" if status.oldest_pending_seconds else ""))
    console.print(f"{waiting}; {lag}.", highlight=False)
