"""`csdesk drafts …` and `csdesk send`: the review queue and the outbox from the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from server.context import open_app
from server.delivery import OutboxFolder, SendReport, SmtpTransport, Transport, send_approved
from server.settings import Settings
from store.auth.users import principal_for
from store.crm import drafts
from store.schemas import DraftOut, DraftRow


async def list_queue(settings: Settings, *, as_user: str | None, statuses: tuple[str, ...], owner: str | None
                     ) -> list[DraftRow]:
    async with open_app(settings) as app, app.read_sessions() as session:
        principal = await principal_for(session, email=settings.acting_email(as_user))
        page = await drafts.list_drafts(session, principal=principal, statuses=statuses, owner=owner, limit=200)
        return page.items


async def show(settings: Settings, *, as_user: str | None, draft_id: int) -> DraftOut:
    async with open_app(settings) as app, app.read_sessions() as session:
        await principal_for(session, email=settings.acting_email(as_user))  # an active user, as over MCP
        return await drafts.get_draft(session, draft_id=draft_id)


async def decide(settings: Settings, *, as_user: str | None, draft_id: int, decision: str, note: str | None = None,
                 subject: str | None = None, body: str | None = None) -> DraftOut:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        principal = await principal_for(session, email=settings.acting_email(as_user))
        return await drafts.review_draft(session, principal=principal, now=app.clock.now(), draft_id=draft_id,
                                         decision=decision, note=note, subject=subject, body=body)  # type: ignore[arg-type]


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
                             password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                             starttls=settings.smtp_starttls)
    return OutboxFolder(settings.outbox_dir)


async def send(settings: Settings, *, as_user: str | None, resend_unfinished: bool) -> tuple[str, SendReport]:
    transport = transport_for(settings)
    async with open_app(settings) as app:
        async with app.read_sessions() as session:
            principal = await principal_for(session, email=settings.acting_email(as_user))
        report = await send_approved(app, principal=principal, transport=transport,
                                     resend_unfinished=resend_unfinished)
    where = (f"SMTP {settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host
             else f"the outbox folder {settings.outbox_dir} (no SMTP configured: set CSDESK_SMTP_HOST)")
    return where, report


def queue_table(rows: list[DraftRow]) -> Table:
    table = Table(title=f"{len(rows)} draft(s)", title_justify="left")
    for column in ("id", "status", "kind", "account", "to", "subject", "author"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.id), row.status, row.kind, row.account_name, row.to, row.subject, row.author)
    return table


def print_draft(console: Console, draft: DraftOut) -> None:
    console.print(f"[bold]Draft {draft.id}[/] · {draft.kind} · {draft.status} · version {draft.version}",
                  highlight=False)
    console.print(f"Account: {draft.account_name} (health {draft.health_status or 'not assessed'}"
                  f"{f', {draft.health_score:.0f}' if draft.health_score is not None else ''})", highlight=False)
    written = draft.method if draft.method != "template" else "from the message template" + (
        " (the model's draft was not used)" if draft.fallback_reason else " (no model configured)")
    console.print(f"To: {draft.to}\nSubject: {draft.subject}\nWritten by: {draft.author}, {written}",
                  highlight=False, markup=False)
    console.print("Why: " + "; ".join(draft.reasons), highlight=False, markup=False)
    if draft.fallback_reason:
        console.print(f"Model fallback: {draft.fallback_reason}", highlight=False, markup=False)
    console.print(f"Check: {draft.risk}", highlight=False, markup=False)
    for item in draft.highlights:
        origin = f"from {item.source}" if item.problem is None else "NOT IN THE FACTS"
        console.print(f"  {item.where}: {item.kind.replace('_', ' ')} {item.text!r} · {origin}", highlight=False,
                      markup=False)
    console.print("")
    console.print(draft.body, highlight=False, markup=False)
