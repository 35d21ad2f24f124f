"""Twenty clients at once, reading and writing the same accounts: every accepted write is in the final
state and in the audit log, every lost race is reported as a conflict, and nothing else goes wrong
(in particular, no "database is locked" reaches a client). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field

from mcp import Client
from sqlalchemy import func, select

from server.app import build_server
from server.settings import Settings
from store.clock import FixedClock
from store.database.models import Account, AuditEvent, HealthNote, Renewal
from tests.conftest import NOW, USERS, Db
from tests.factories import make_account

CLIENTS = 20
CALLS_PER_CLIENT = 15
CONFLICT_MARKS = ("has changed", "changed by someone else")


@dataclass
class Ledger:
    """What the clients were told: accepted writes by entity, conflicts, and anything else."""

    account_versions: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    renewal_versions: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    notes: set[int] = field(default_factory=set)
    conflicts: int = 0
    unexpected: list[str] = field(default_factory=list)


async def _client(settings: Settings, email: str, seed: int, accounts: list[tuple[int, int]],
                  ledger: Ledger, start: asyncio.Event) -> None:
    rng = random.Random(seed)
    server = build_server(settings.model_copy(update={"user": email}), clock=FixedClock(NOW))
    async with Client(server) as client:
        await start.wait()
        for _ in range(CALLS_PER_CLIENT):
            account_id, renewal_id = rng.choice(accounts)
            view = await client.call_tool("get_account", {"account_id": account_id})
            if view.is_error:
                ledger.unexpected.append(view.content[0].text)
                continue
            account, renewal = view.structured_content["account"], view.structured_content["open_renewal"]
            choice = rng.random()
            if choice < 0.35:
                seats = rng.randint(1, 10_000)
                result = await client.call_tool("update_account", {
                    "account_id": account_id, "expected_version": account["version"], "seats": seats})
                if not result.is_error:
                    ledger.account_versions[account_id][result.structured_content["version"]] = seats
            elif choice < 0.7:
                forecast = f"{rng.randint(1, 900_000)}.00"
                result = await client.call_tool("update_renewal", {
                    "renewal_id": renewal_id, "expected_version": renewal["version"], "forecast_amount": forecast})
                if not result.is_error:
                    ledger.renewal_versions[renewal_id][result.structured_content["version"]] = forecast
            else:
                result = await client.call_tool("add_health_note", {"account_id": account_id,
                                                                    "body": f"Load note from client {seed}."})
                if not result.is_error:
                    ledger.notes.add(result.structured_content["id"])
            if result.is_error:
                text = result.content[0].text
                if any(mark in text for mark in CONFLICT_MARKS):
                    ledger.conflicts += 1
                else:
                    ledger.unexpected.append(text)


async def test_twenty_clients_lose_no_write_and_report_every_conflict(db: Db, backend_settings: Settings) -> None:
    accounts = []
    for name in ("Contended One", "Contended Two", "Contended Three"):
        made = await make_account(db, owner="ana", name=name)
        async with db.read() as session:
            accounts.append((made.id, await session.scalar(select(Renewal.id).where(Renewal.account_id == made.id))))
    ledger, start = Ledger(), asyncio.Event()
    emails = [USERS["ana"][0], USERS["morgan"][0]]
    tasks = [asyncio.create_task(_client(backend_settings, emails[index % 2], index, accounts, ledger, start))
             for index in range(CLIENTS)]
    await asyncio.sleep(0)
    start.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)

    assert ledger.unexpected == []
    accepted = sum(len(versions) for versions in ledger.account_versions.values()) + \
        sum(len(versions) for versions in ledger.renewal_versions.values()) + len(ledger.notes)
    assert accepted > 0 and ledger.conflicts > 0, "the run should have both accepted writes and lost races"
    async with db.read() as session:
        for account_id, _renewal_id in accounts:
            stored = await session.get(Account, account_id)
            versions = ledger.account_versions.get(account_id, {})
            # Every accepted update bumped the version once, and the last one's value is what is stored.
            assert stored.version == 1 + len(versions)
            assert sorted(versions) == list(range(2, 2 + len(versions)))
            if versions:
                assert stored.seats == versions[max(versions)]
            audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "account.update", AuditEvent.entity_id == account_id))
            assert audited == len(versions)
        for _account_id, renewal_id in accounts:
            stored = await session.get(Renewal, renewal_id)
            versions = ledger.renewal_versions.get(renewal_id, {})
            assert stored.version == 1 + len(versions)
            if versions:
                assert f"{stored.forecast_amount:.2f}" == versions[max(versions)]
            audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "renewal.update", AuditEvent.entity_id == renewal_id))
            assert audited == len(versions)
        notes = set(await session.scalars(select(HealthNote.id)))
        note_audits = await session.scalar(select(func.count()).select_from(AuditEvent)
                                           .where(AuditEvent.action == "health_note.create"))
    assert notes == ledger.notes and note_audits == len(ledger.notes)
