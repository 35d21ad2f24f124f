"""Importing usage, tickets, surveys and touchpoints: upserts keyed by the row's own id, every problem of
every row, nothing written from a bad file, and the encodings and delimiters exports come in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agents.cycle import run_cycle
from store.crm.contacts import upsert_contact
from store.database.models import AuditEvent, SupportTicket, SurveyResponse, Touchpoint, UsageSnapshot
from store.errors import InvalidInput
from store.imports import sources
from store.imports.report import ImportReport
from store.imports.signal_import import import_signals
from tests.agents.conftest import deps_for
from tests.conftest import NOW, Db
from tests.factories import make_account


async def _import(db: Db, path: Path, kind: str, *, who: str = "morgan", **options: bool) -> ImportReport:
    with sources.opened(str(path)) as source:
        return await import_signals(db.app.read_sessions, db.app.write_sessions, kind=kind, source=source,
                                    principal=db.principals[who], now=NOW, **options)


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def _count(db: Db, model: type) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_usage_upserts_by_month_rolls_days_up_and_a_reimport_changes_nothing(db: Db, tmp_path: Path) -> None:
    account = await make_account(db, name="Acme Corp", domain="acme.com")
    await make_account(db, name="Globex", external_id="CRM-7")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count,features_adopted\n"
                  "Acme Corp,2026-09,40,900,5\nacme.com,2026-10-03,41,30,6\nACME.COM,2026-10-04,45,35,4\n"
                  "CRM-7,2026-10,12,100,2\n")
    first = await _import(db, path, "usage")
    again = await _import(db, path, "usage")
    _write(tmp_path, "usage.csv", path.read_text().replace("Acme Corp,2026-09,40,900", "Acme Corp,2026-09,42,900"))
    changed = await _import(db, path, "usage")
    async with db.read() as session:
        stored = [(u.period_start.isoformat(), u.active_users, u.usage_count, u.features_adopted) for u in
                  await session.scalars(select(UsageSnapshot).where(UsageSnapshot.account_id == account.id)
                                        .order_by(UsageSnapshot.period_start))]
        audits = list(await session.scalars(select(AuditEvent.after).where(AuditEvent.action == "import.usage")))
    assert (first.inserted, first.updated, first.unchanged, first.rejected) == (3, 0, 0, [])
    assert first.matched == "by external id 1, by domain 2, by name 1"
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 2)
    # The two October days: the most active users, their usage summed, the most features.
    assert stored == [("2026-09-01", 42, 900, 5), ("2026-10-01", 45, 65, 6)]
    # Each written chunk is audited with what it wrote; the unchanged re-import wrote (and audited) nothing.
    assert sum(a["inserted"] for a in audits) == 3 and sum(a["updated"] for a in audits) == 1
    assert audits[-1] == {"file": "usage.csv", "inserted": 0, "updated": 1}


async def test_a_file_with_a_bad_row_imports_nothing_and_names_every_problem_of_every_row(
        db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme Corp")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count\n"
                  "Acme Corp,2026-10,40,900\n"
                  "Nowhere Inc,2026-10,1,2\n"
                  "Acme Corp,2027-05,-3,lots\n"
                  "Acme Corp,2026-10,41,901\n")
    with pytest.raises(InvalidInput) as refused:
        await _import(db, path, "usage")
    message = str(refused.value)
    assert "3 bad row(s); nothing was imported" in message
    assert "line 3: no account matches 'Nowhere Inc' by external id, domain or name" in message
    assert ("line 4: period is in the future (2027-05); import what has happened; active_users must be a whole "
            "number from 0 to 1000000000; got '-3'; usage_count must be a whole number; got 'lots'") in message
    assert "line 5: a second row for Acme Corp and 2026-10-01 in this file" in message
    assert await _count(db, UsageSnapshot) == 0
    skipped = await _import(db, path, "usage", skip_invalid=True)
    assert (skipped.inserted, len(skipped.rejected)) == (1, 3)


async def test_columns_are_checked_before_any_row_and_the_error_lists_what_is_accepted(db: Db, tmp_path: Path) -> None:
    path = _write(tmp_path, "usage.csv", "account,month,minutes_customer_support\nAcme,2026-10,3\n")
    with pytest.raises(InvalidInput, match=r"missing columns: period, active_users, usage_count; unknown columns: "
                                           r"minutes_customer_support, month\. A usage file has the columns"):
        await _import(db, path, "usage")


async def test_a_ticket_reimported_with_closed_at_is_closed_and_impossible_tickets_are_refused(
        db: Db, tmp_path: Path) -> None:
    account = await make_account(db, name="Acme Corp")
    header = "account,ticket_id,subject,opened_at,closed_at,priority,escalated,csat\n"
    path = _write(tmp_path, "tickets.csv", header + "Acme Corp,ZD-1,Login fails,2026-11-01T09:00:00Z,,High,yes,\n")
    opened = await _import(db, path, "tickets")
    _write(tmp_path, "tickets.csv", header + "Acme Corp,ZD-1,Login fails,2026-11-01T09:00:00Z,2026-11-03,High,yes,4\n")
    closed = await _import(db, path, "tickets")
    async with db.read() as session:
        ticket = await session.scalar(select(SupportTicket).where(SupportTicket.account_id == account.id))
    assert (opened.inserted, closed.updated) == (1, 1)
    assert ticket is not None and (ticket.external_id, ticket.priority, ticket.escalated, ticket.csat) == (
        "ZD-1", "high", True, 4)
    assert ticket.closed_at is not None and ticket.closed_at.date().isoformat() == "2026-11-03"
    bad = _write(tmp_path, "bad.csv", header + "Acme Corp,ZD-2,x,2026-11-05,2026-11-02,critical,maybe,9\n")
    with pytest.raises(InvalidInput) as refused:
        await _import(db, bad, "tickets")
    assert ("line 2: priority must be one of low, normal, high, urgent; got 'critical'; escalated must be true or "
            "false; got 'maybe'; csat must be a whole number from 1 to 5; got '9'; "
            "closed_at (2026-11-02T00:00:00+00:00) is before opened_at (2026-11-05T00:00:00+00:00)"
            ) in str(refused.value)


async def test_surveys_keep_each_kinds_scale_and_find_the_contact(db: Db, tmp_path: Path) -> None:
    account = await make_account(db, name="Acme Corp")
    async with db.write() as session:
        pat = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                   name="Pat Lee", email="pat@acme.com", role="champion")
    path = _write(tmp_path, "nps.csv", "account,kind,score,responded_at,comment,contact_email\n"
                  "Acme Corp,NPS,3,2026-11-10,Too slow,PAT@acme.com\n"
                  "Acme Corp,csat,5,2026-11-11,,someone@else.com\n")
    first = await _import(db, path, "surveys")
    again = await _import(db, path, "surveys")
    async with db.read() as session:
        stored = [(s.kind, s.score, s.contact_id, s.comment) for s in
                  await session.scalars(select(SurveyResponse).order_by(SurveyResponse.responded_at))]
    assert (first.inserted, first.contacts_not_found, again.unchanged) == (2, 1, 2)
    assert stored == [("nps", 3, pat.id, "Too slow"), ("csat", 5, None, None)]
    bad = _write(tmp_path, "bad.csv", "account,kind,score,responded_at\nAcme Corp,csat,0,2026-11-10\n")
    with pytest.raises(InvalidInput, match="score for csat must be from 1 to 5; got 0"):
        await _import(db, bad, "surveys")


async def test_touchpoints_are_keyed_and_their_authors_must_be_users(db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme Corp")
    path = _write(tmp_path, "calls.jsonl", "\n".join(json.dumps(row) for row in (
        {"account": "Acme Corp", "external_id": "GONG-1", "kind": "call", "occurred_at": "2026-11-20T15:00:00Z",
         "summary": "Renewal call", "author_email": "ana@example.com"},
        {"account": "Acme Corp", "kind": "meeting", "occurred_at": "2026-11-21", "summary": "QBR prep"})))
    first = await _import(db, path, "touchpoints")
    again = await _import(db, path, "touchpoints")
    async with db.read() as session:
        authors = sorted(await session.scalars(select(Touchpoint.author_id)))
    assert (first.inserted, again.unchanged) == (2, 2)
    assert authors == sorted([db.principals["ana"].user_id, db.principals["morgan"].user_id])
    bad = _write(tmp_path, "bad.jsonl", '{"account": "Acme Corp", "kind": "call", "occurred_at": "2026-11-20", '
                 '"summary": "x", "author_email": "ghost@example.com"}\n[1, 2]\n{not json\n')
    with pytest.raises(InvalidInput) as refused:
        await _import(db, bad, "touchpoints")
    assert "line 1: author_email ghost@example.com is not a csdesk user" in str(refused.value)
    assert "line 2: not a JSON object" in str(refused.value) and "line 3: not a JSON object" in str(refused.value)


async def test_a_csm_imports_only_the_accounts_it_owns(db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Ana's", owner="ana")
    await make_account(db, name="Ben's", owner="ben")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count\nAna's,2026-10,1,1\n"
                  "Ben's,2026-10,1,1\n")
    with pytest.raises(InvalidInput, match="line 3: ana@example.com does not own Ben's"):
        await _import(db, path, "usage", who="ana")


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8-sig", ","), ("utf-16", "\t"), ("utf-8", ";")])
async def test_excel_exports_read_as_they_are(db: Db, tmp_path: Path, encoding: str, delimiter: str) -> None:
    await make_account(db, name="Café Zürich")
    text = delimiter.join(["account", "period", "active_users", "usage_count"]) + "\r\n" + \
        delimiter.join(["Café Zürich", "2026-10", "7", "1,200" if delimiter != "," else "1200"]) + "\r\n"
    report = await _import(db, _write(tmp_path, "export.csv", text, encoding), "usage")
    assert report.inserted == 1 and report.rejected == []


async def test_nul_bytes_and_undecodable_files_are_refused_clearly(db: Db, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="holds NUL bytes"):
        await _import(db, _write(tmp_path, "x.csv", "account,period\x00\n"), "usage")
    # Past the first 64 KB that the encoding is told from, a NUL is found with its line, before any row is read.
    rows = "".join(f"Acme,2026-{1 + n % 9:02d},1,1\n" for n in range(5000))
    late = _write(tmp_path, "late.csv", "account,period,active_users,usage_count\n" + rows + "Acme,2026-10\x00,1,1\n")
    with pytest.raises(InvalidInput, match="NUL character on line 5002"):
        await _import(db, late, "usage")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("account,period,active_users,usage_count\nCaf\xe9,2026-10,1,1\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="is not utf-8 text"):
        await _import(db, latin, "usage")


async def test_a_dry_run_says_what_would_change_and_writes_nothing(db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme Corp")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count\nAcme Corp,2026-10,1,1\n")
    report = await _import(db, path, "usage", dry_run=True)
    assert report.inserted == 1 and "would be inserted" in report.line()
    assert await _count(db, UsageSnapshot) == 0 and await _count(db, AuditEvent) > 0
    async with db.read() as session:
        assert await session.scalar(select(func.count()).where(AuditEvent.action == "import.usage")) == 0
    await _import(db, path, "usage")
    changed = _write(tmp_path, "changed.csv", "account,period,active_users,usage_count\n"
                     "Acme Corp,2026-10,7,1\nAcme Corp,2026-09,2,2\n")
    report = await _import(db, changed, "usage", dry_run=True)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)
    async with db.read() as session:
        stored = (await session.execute(select(UsageSnapshot.period_start, UsageSnapshot.active_users))).all()
        assert [(period.isoformat(), users) for period, users in stored] == [("2026-10-01", 1)]
        assert await session.scalar(select(func.count()).where(AuditEvent.action == "import.usage")) == 1


async def test_imported_signals_are_reassessed_once_and_an_unchanged_reimport_costs_nothing(
        db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme Corp")
    await run_cycle(deps_for(db))
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count,features_adopted\n"
                  "Acme Corp,2026-09,40,900,5\nAcme Corp,2026-10,12,100,1\n")
    await _import(db, path, "usage")
    after_import = await run_cycle(deps_for(db))
    await _import(db, path, "usage")
    after_reimport = await run_cycle(deps_for(db))
    assert (after_import.assessed, after_reimport.assessed, after_reimport.skipped_unchanged) == (1, 0, 1)


async def test_a_month_given_both_as_a_month_row_and_as_day_rows_is_refused(db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme Corp")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count\nAcme Corp,2026-10-02,1,1\n"
                  "Acme Corp,2026-10,5,50\nAcme Corp,2026-09,5,50\nAcme Corp,2026-09-03,1,1\n")
    with pytest.raises(InvalidInput) as refused:
        await _import(db, path, "usage")
    assert "line 3: Acme Corp has both a month row and day rows for 2026-10" in str(refused.value)
    assert "line 5: Acme Corp has both a month row and day rows for 2026-09" in str(refused.value)


async def test_features_come_as_a_json_list_or_a_csv_cell_of_names(db: Db, tmp_path: Path) -> None:
    account = await make_account(db, name="Acme Corp")
    csv_file = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count,features\n"
                      'Acme Corp,2026-09,4,40,"reports; exports; reports"\n')
    jsonl = _write(tmp_path, "usage.jsonl", '{"account": "Acme Corp", "period": "2026-10", "active_users": 5, '
                   '"usage_count": 50, "features": ["reports", "alerts", "sso"]}\n')
    await _import(db, csv_file, "usage")
    await _import(db, jsonl, "usage")
    async with db.read() as session:
        features = list(await session.scalars(select(UsageSnapshot.features_adopted).where(
            UsageSnapshot.account_id == account.id).order_by(UsageSnapshot.period_start)))
    assert features == [2, 3]


async def test_an_import_marks_the_accounts_it_changed_for_the_watch(db: Db, tmp_path: Path) -> None:
    from store.database.models import AccountMark

    acme = await make_account(db, name="Acme", domain="acme.example")
    await make_account(db, name="Globex", domain="globex.example")
    path = _write(tmp_path, "usage.csv", "account,period,active_users,usage_count,features_adopted\n"
                                         "acme.example,2026-10,10,500,3\n")
    await _import(db, path, "usage")
    async with db.read() as session:
        marks = [(mark.account_id, mark.reason, mark.pending_since is not None)
                 for (mark,) in await session.execute(select(AccountMark))]
    assert marks == [(acme.id, "import.usage", True)], "only the account whose usage changed"
    async with db.write() as session:
        await session.execute(AccountMark.__table__.delete())
    await _import(db, path, "usage")
    assert await _count(db, AccountMark) == 0, "an unchanged re-import marks nothing"


async def test_two_imports_of_the_same_tickets_at_once_store_each_ticket_once(db: Db, tmp_path: Path) -> None:
    await make_account(db, name="Acme", domain="acme.example")
    lines = "".join(f"acme.example,T-{n},Export question,2026-10-{1 + n % 28:02d}T09:00:00Z\n" for n in range(300))
    path = _write(tmp_path, "tickets.csv", "account,ticket_id,subject,opened_at\n" + lines)
    first, second = await asyncio.gather(_import(db, path, "tickets"), _import(db, path, "tickets"))
    # Whichever wrote a ticket first inserted it; the other found it as given and left it alone.
    assert first.inserted + second.inserted == 300 and first.unchanged + second.unchanged == 300
    assert first.updated == second.updated == 0 and await _count(db, SupportTicket) == 300
