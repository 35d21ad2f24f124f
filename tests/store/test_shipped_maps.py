"""The column maps csdesk ships read each tool's export as it comes: HubSpot companies and contacts, a
Salesforce accounts report, a Zendesk tickets export and an NPS tool's responses, then the agents see it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agents.cycle import run_cycle
from store.database.models import Account, Assessment, Contact, SupportTicket
from store.imports import sources
from store.imports.column_maps import load_map, shipped_maps
from store.imports.entity_import import ENTITY_KINDS, import_entities
from store.imports.report import ImportReport
from store.imports.signal_import import import_signals
from tests.agents.conftest import deps_for
from tests.conftest import NOW, Db

SAMPLES = Path(__file__).parent.parent / "samples"
# In the order a team brings them in: accounts first, then who works there, then the signals.
ORDER = ("hubspot-companies", "salesforce-accounts", "hubspot-contacts", "zendesk-tickets", "delighted-nps")


async def _import(db: Db, map_name: str) -> ImportReport:
    column_map = load_map(map_name)
    assert column_map.kind is not None
    with sources.opened(str(SAMPLES / f"{map_name}.csv")) as source:
        if column_map.kind in ENTITY_KINDS:
            return await import_entities(db.app.write_sessions, kind=column_map.kind, source=source,
                                         principal=db.principals["morgan"], now=NOW, column_map=column_map,
                                         create_missing=column_map.kind == "accounts")
        return await import_signals(db.app.read_sessions, db.app.write_sessions, kind=column_map.kind,
                                    source=source, principal=db.principals["morgan"], now=NOW, column_map=column_map)


async def test_every_shipped_map_loads_its_sample_and_the_next_cycle_sees_the_facts(db: Db) -> None:
    assert sorted(ORDER) == shipped_maps()
    reports = {name: await _import(db, name) for name in ORDER}
    again = {name: await _import(db, name) for name in ORDER}
    assert {name: (r.inserted, r.rejected) for name, r in reports.items()} == {
        "hubspot-companies": (2, []), "salesforce-accounts": (1, []), "hubspot-contacts": (2, []),
        "zendesk-tickets": (3, []), "delighted-nps": (2, [])}
    assert all(r.inserted == r.updated == 0 and r.unchanged == reports[name].inserted for name, r in again.items())
    async with db.read() as session:
        accounts = {a.name: (a.external_id, a.domain, a.segment, str(a.arr)) for a in await session.scalars(
            select(Account))}
        pat = await session.scalar(select(Contact).where(Contact.email == "pat@acme.com"))
        tickets = {t.external_id: (t.priority, t.csat, t.closed_at is not None) for t in
                   await session.scalars(select(SupportTicket))}
    assert accounts == {"Acme Corp": ("9001", "acme.com", "enterprise", "250000.00"),
                        "Globex": ("9002", "globex.com", "smb", "48000.00"),
                        "Initech": ("0015g00000XyZ1AAA", "initech.com", "smb", "18000.00")}
    assert pat is not None and (pat.name, pat.title, pat.external_id) == ("Pat Lee", "VP Operations", "501")
    assert tickets == {"4101": ("urgent", None, False), "4102": ("high", 1, True), "4103": ("low", 5, True)}

    await run_cycle(deps_for(db))
    async with db.read() as session:
        acme = await session.scalar(select(Assessment).join(Account, Account.id == Assessment.account_id)
                                    .where(Account.name == "Acme Corp"))
    evidence = {s["id"]: s["evidence"] for s in acme.signals}
    # The NPS tool's detractor, Zendesk's open ticket and HubSpot's renewal date, as the assessment's evidence.
    assert evidence["survey.nps"] == "Latest NPS 3 (detractor) on 2026-11-15."
    assert evidence["support.overdue_tickets"] == "1 open support tickets, 0 past due."
    assert evidence["renewal.days_to_renewal"].startswith("Renewal due 2027-01-31")
