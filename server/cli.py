"""The `csdesk` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from server.settings import Settings
from store.errors import CsdeskError

if TYPE_CHECKING:
    from store.auth.tokens import TokenOut

ResultT = TypeVar("ResultT")
ItemT = TypeVar("ItemT", bound=BaseModel)

app = typer.Typer(help="csdesk: a customer-success retention desk driven from AI assistants.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
import_app = typer.Typer(help="Import accounts and contacts, and the signals behind health: usage, support "
                         "tickets, surveys and touchpoints.", no_args_is_help=True)
drafts_app = typer.Typer(help="The review queue of drafted outreach.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for HTTP clients and the review page.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(drafts_app, name="drafts")
events_app = typer.Typer(help="The live product-event feed (Segment / RudderStack at /v1).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
app.add_typer(events_app, name="events")
health_app = typer.Typer(help="The health model: what counts toward an account's health, and how much.",
                         no_args_is_help=True)
health_model_app = typer.Typer(help="Show the health model in force, or check a model file.", no_args_is_help=True)
health_app.add_typer(health_model_app, name="model")
app.add_typer(health_app, name="health")
err = Console(stderr=True, soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


def print_json(items: Sequence[BaseModel]) -> None:
    """A listing as a JSON array on stdout, for scripts (`--json` on every listing command)."""
    print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))


def print_listing(items: Sequence[ItemT], *, as_json: bool, line: Callable[[ItemT], str]) -> None:
    """A listing as JSON, or one line per item."""
    if as_json:
        print_json(items)
        return
    for item in items:
        print(line(item))


JsonOutput = Annotated[bool, typer.Option("--json", help="Print the list as JSON instead of a table.")]


def show_version(value: bool) -> None:
    if value:
        print(f"csdesk {package_version('csdesk')}")
        raise typer.Exit()


def run(coroutine: Coroutine[Any, Any, ResultT]) -> ResultT:
    """Run a command's coroutine; a user-facing error becomes a message and exit code 2."""
    try:
        return asyncio.run(coroutine)
    except CsdeskError as exc:
        err.print("[bold red]error:[/] ", end="", highlight=False)
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None


@app.callback()
def configure(
    ctx: typer.Context,
    db: Annotated[Path | None, typer.Option(help="SQLite file (default csdesk.db, or CSDESK_DB_PATH).")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy async URL (or CSDESK_DATABASE_URL).")]
    = None,
    _version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                           help="Print the version and exit.")] = False,
) -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            err.print("[bold red]error:[/] ", end="", highlight=False)
            err.print(f"setting {where}: {str(error['msg']).removeprefix('Value error, ')}", highlight=False,
                      markup=False)
        raise typer.Exit(2) from None
    overrides: dict[str, Any] = {}
    if db is not None:
        overrides["db_path"] = db
    if database_url is not None:
        overrides["database_url"] = database_url
    ctx.obj = settings.model_copy(update=overrides)


@app.command()
def serve(
    ctx: typer.Context,
    http: Annotated[bool, typer.Option("--http", help="Serve Streamable HTTP at /mcp instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="Address to bind with --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind with --http.")] = 8765,
    public_url: Annotated[str | None, typer.Option(help="Address users reach the server at, e.g. "
                                                        "https://cs.example.com (or CSDESK_PUBLIC_URL).")] = None,
    stateless: Annotated[bool, typer.Option("--stateless", help="Keep no MCP session in the process, so that "
                                                                "several processes can share one address.")] = False,
) -> None:
    """Run the MCP server over stdio (for Claude Desktop, as CSDESK_USER) or Streamable HTTP (bearer tokens)."""
    from server.serving import check_ready, count_active_tokens, serve_http, serve_stdio

    settings = settings_of(ctx)
    if public_url is not None:
        settings = settings.model_copy(update={"public_url": public_url})
    if stateless:
        settings = settings.model_copy(update={"stateless_http": True})
    if http:
        tokens = run(count_active_tokens(settings))
        oauth = f"; JWTs from {settings.oauth_issuer} too" if settings.oauth_issuer else ""
        mode = " statelessly" if settings.stateless_http else ""
        base = f"http://{host}:{port}"
        err.print(f"csdesk serving {settings.describe_database()}{mode} at {base}/mcp; every request "
                  f"needs `Authorization: Bearer <token>` ({tokens} active API token(s); create one with "
                  f"`csdesk tokens create`{oauth}). Web desk: {base}/ (sign in with a token)", highlight=False)
        if settings.stateless_http and settings.session_secret is None:
            err.print("warning: CSDESK_SESSION_SECRET is not set, so a review-page sign-in holds only on the process "
                      "that made it; set the same secret on every process behind the address", highlight=False)
        serve_http(settings, host=host, port=port)
        return
    principal = run(check_ready(settings))
    err.print(f"csdesk serving {settings.describe_database()} as {principal.email} ({principal.role}) over stdio",
              highlight=False)
    serve_stdio(settings)


@app.command()
def demo(
    ctx: typer.Context,
    accounts: Annotated[int, typer.Option(min=1, max=100_000, help="Portfolio size.")] = 80,
) -> None:
    """Create the database, seed the demo portfolio (once) and show the retention view."""
    from server.demo import run_demo

    run(run_demo(settings_of(ctx), accounts=accounts))


@app.command("run")
def run_agents(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Re-assess every account, changed or not.")] = False,
    worker: Annotated[bool, typer.Option("--worker", help="Join the shared cycle: several processes started this "
                                                          "way split it, no account done twice.")] = False,
) -> None:
    """Run one agent cycle: assess every account whose signals changed, then fire the playbooks."""
    from server.agent_commands import run_once

    summary = run(run_once(settings_of(ctx), Console(), force=force, worker=worker))
    if summary.failures:
        raise typer.Exit(1)


@app.command()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
    as_json: JsonOutput = False,
) -> None:
    """The latest agent runs: when each ran, how it ended (a run silent past its lease was likely
    killed), how many accounts it assessed."""
    from server.agent_commands import latest_runs, runs_table

    lines = run(latest_runs(settings_of(ctx), limit=limit))
    if as_json:
        print_json(lines)
    elif not lines:
        print("No agent runs yet: `csdesk run` starts one.")
    else:
        Console().print(runs_table(lines))


@app.command()
def worker(
    ctx: typer.Context,
    every: Annotated[str, typer.Option(help="Time between cycles: 30m, 1h, 1d.")] = "1h",
    watch: Annotated[bool, typer.Option("--watch", help="Between cycles, assess the accounts that product events "
                                                        "and imports changed, within seconds.")] = False,
) -> None:
    """Run agent cycles in-process, one now and one every interval (for machines without cron); with
    --watch, also re-assess changed accounts as their data arrives. SIGINT (Ctrl-C) or SIGTERM stops it
    once the running cycle has finished."""
    from server.agent_commands import parse_interval, run_worker

    try:
        interval = parse_interval(every)
    except CsdeskError as exc:
        err.print("[bold red]error:[/] ", end="", highlight=False)
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    run(run_worker(settings_of(ctx), Console(), every=interval, watch=watch))
    err.print("worker stopped")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema (safe to repeat)."""
    from server.admin import upgrade_database

    settings = settings_of(ctx)
    revision = run(upgrade_database(settings))
    print(f"{settings.describe_database()} is at schema revision {revision}")


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: str,
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="csm, manager, reviewer, admin or agent.")] = "csm",
) -> None:
    """Create a user."""
    from server.admin import add_user

    user = run(add_user(settings_of(ctx), email=email, name=name, role=role))
    print(f"created {user.email} ({user.role}), id {user.id}")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOutput = False) -> None:
    """List users and their roles."""
    from server.admin import list_users

    print_listing(run(list_users(settings_of(ctx))), as_json=as_json, line=lambda user: (
        f"{user.email:40} {user.role:9} {user.name}{'' if user.active else '  (deactivated)'}"))


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What it is for, e.g. laptop or segment-prod.")],
    user: Annotated[str | None, typer.Option(help="The user's email (a write key: who answers for it; default "
                                                  "CSDESK_USER).")] = None,
    ingest: Annotated[bool, typer.Option("--ingest", help="A write key for product events (/v1, Segment or "
                                                          "RudderStack): it can send events and nothing else.")]
    = False,
    expires_in_days: Annotated[int | None, typer.Option(min=0, max=3650, help="Lifetime in days; 0 = until "
                                                                             "revoked. Default 90 (a write key: 0).")]
    = None,
) -> None:
    """Create a token for a user, or a write key for product events; it is printed once and stored only
    as a hash."""
    from server.admin import create_token

    settings = settings_of(ctx)
    owner = user or (settings.user if ingest else None)
    if owner is None:
        err.print("[bold red]error:[/] name the token's user with --user" + (" or CSDESK_USER" if ingest else ""))
        raise typer.Exit(2)
    days = expires_in_days if expires_in_days is not None else (0 if ingest else 90)
    created = run(create_token(settings, user=owner, name=name, expires_in_days=days or None,
                               scope="ingest" if ingest else "csdesk"))
    print(created.token)
    until = f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC" if created.expires_at else "does not expire"
    what = "write key for product events" if ingest else "token"
    err.print(f"{what} {created.id} for {created.user} ({created.name}), {until}; copy it now, it is not shown "
              "again", highlight=False)


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, as_json: JsonOutput = False) -> None:
    """List tokens (never their values)."""
    from server.admin import list_tokens

    print_listing(run(list_tokens(settings_of(ctx))), as_json=as_json, line=_token_line)


def _token_line(token: TokenOut) -> str:
    used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never used"
    until = f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry"
    state = "revoked" if token.revoked else ""
    return f"{token.id:>4}  {token.user:35} {token.name:20} {token.scope:7} {used:20} {until:18} {state}"


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token; it stops working at once."""
    from server.admin import revoke_token

    run(revoke_token(settings_of(ctx), token_id=token_id))
    print(f"token {token_id} revoked")


# Files shorter than this import too fast for a progress bar to help.
PROGRESS_FROM_ROWS = 5_000
SkipInvalid = Annotated[bool, typer.Option("--skip-invalid", help="Import the good rows, report the bad.")]
AsUser = Annotated[str | None, typer.Option("--as", help="Acting user's email (default CSDESK_USER).")]


Format = Annotated[str | None, typer.Option("--format", help="csv or jsonl; default: by the file's extension.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Check every row and say what would change; write nothing.")]


MapOption = Annotated[str | None, typer.Option("--map", help="A column map: a TOML file, or a shipped one by name "
                                                           "(hubspot-companies, hubspot-contacts, salesforce-accounts, "
                                                           "zendesk-tickets, delighted-nps).")]
ColumnOption = Annotated[list[str] | None, typer.Option("--column", help="Rename one column: csdesk=export "
                                                                          "(repeatable), e.g. account=Company.")]


CreateMissing = Annotated[bool, typer.Option("--create-missing", help="accounts: create the accounts that match "
                                                                      "none (the row needs name, segment and arr).")]


def _import_file(ctx: typer.Context, kind: str, path: str, format: str | None, skip_invalid: bool,
                 dry_run: bool, as_user: str | None, map_reference: str | None, columns: list[str] | None,
                 create_missing: bool) -> None:
    from rich.progress import Progress, TaskID

    from server.admin import import_file
    from server.agent_commands import progress_columns

    with Progress(*progress_columns(), console=err, transient=True) as progress:
        bar: list[TaskID] = []

        def on_progress(done: int, total: int) -> None:
            if total < PROGRESS_FROM_ROWS:
                return
            if not bar:
                bar.append(progress.add_task(f"Importing {kind}", total=total))
            progress.update(bar[0], completed=done, total=total)

        report = run(import_file(settings_of(ctx), kind=kind, path=path, format=format, skip_invalid=skip_invalid,
                                 dry_run=dry_run, as_user=as_user, map_reference=map_reference,
                                 columns=columns or (), create_missing=create_missing,
                                 on_progress=on_progress))
    print(report.line() + (" (dry run: nothing was written)" if dry_run else ""))
    for line in report.rejected:
        print(f"  rejected {line}", file=sys.stderr)


def _import_command(kind: str, columns: str) -> None:
    def command(ctx: typer.Context, path: Annotated[str, typer.Argument(help="The file, or - for standard input.")],
                format: Format = None, dry_run: DryRun = False, skip_invalid: SkipInvalid = False,
                map_reference: MapOption = None, column: ColumnOption = None, create_missing: CreateMissing = False,
                as_user: AsUser = None) -> None:
        _import_file(ctx, kind, path, format, skip_invalid, dry_run, as_user, map_reference, column, create_missing)

    command.__doc__ = f"Import {kind}: {columns}. Re-importing a file changes nothing; a changed row updates."
    import_app.command(kind)(command)


for _kind, _columns in (
        ("accounts", "name; segment and arr for a new account; optional external_id, domain, owner_email or owner, "
                     "lifecycle_stage, currency, seats, contract_start, renewal_date, onboarding_status"),
        ("contacts", "account (external id, domain or name); name for a new contact; optional email, external_id, "
                     "title, role, is_primary_sponsor, left_company_on"),
        ("usage", "account, period (2026-11 or a day), active_users, usage_count; optional features_adopted or a "
                  "features list"),
        ("tickets", "account, ticket_id, opened_at; optional subject, due_at, closed_at, priority, escalated, csat"),
        ("surveys", "account, kind (nps or csat), score, responded_at; optional response_id, comment, "
                    "contact_email"),
        ("touchpoints", "account, kind, occurred_at, summary; optional external_id, contact_email, author_email"),
        ("success-plans", "account, plan; an outcome row: outcome, metric, unit, baseline, target, target_date "
                          "(optional outcome_id, current, measured_on, status, owner); a milestone row: milestone, "
                          "due (optional milestone_id, completed, outcome_id); optional plan_id, plan_start")):
    _import_command(_kind, _columns)


@drafts_app.command("list")
def drafts_list(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Repeatable; default pending_review.")] = None,
    owner: Annotated[str | None, typer.Option(help='"me" or an email: drafts for that owner\'s accounts.')] = None,
    as_user: AsUser = None,
    as_json: JsonOutput = False,
) -> None:
    """List drafts in the review queue."""
    from server.draft_commands import list_queue, queue_table

    rows = run(list_queue(settings_of(ctx), as_user=as_user, statuses=tuple(status or ("pending_review",)),
                          owner=owner))
    if as_json:
        print_json(rows)
        return
    Console(soft_wrap=True).print(queue_table(rows))


@drafts_app.command("show")
def drafts_show(ctx: typer.Context, draft_id: int, as_user: AsUser = None) -> None:
    """Show one draft: recipient, text, why it was written, and the account's health."""
    from server.draft_commands import print_draft, show

    print_draft(Console(soft_wrap=True), run(show(settings_of(ctx), as_user=as_user, draft_id=draft_id)))


def _decide(ctx: typer.Context, draft_id: int, decision: str, as_user: str | None, **changes: str | None) -> None:
    from server.draft_commands import decide

    draft = run(decide(settings_of(ctx), as_user=as_user, draft_id=draft_id, decision=decision, **changes))
    if draft.status == "stale":
        err.print(f"[bold red]error:[/] draft {draft_id} is stale ({draft.stale_reason}); it was not approved",
                  highlight=False)
        raise typer.Exit(2)
    print(f"draft {draft.id} is now {draft.status}")


@drafts_app.command("approve")
def drafts_approve(ctx: typer.Context, draft_id: int, note: Annotated[str | None, typer.Option()] = None,
                   as_user: AsUser = None) -> None:
    """Approve a draft (reviewers, managers and admins; never your own)."""
    _decide(ctx, draft_id, "approve", as_user, note=note)


@drafts_app.command("reject")
def drafts_reject(ctx: typer.Context, draft_id: int, note: Annotated[str, typer.Option(help="Why.")],
                  as_user: AsUser = None) -> None:
    """Reject a draft, saying why."""
    _decide(ctx, draft_id, "reject", as_user, note=note)


@drafts_app.command("edit")
def drafts_edit(
    ctx: typer.Context, draft_id: int,
    subject: Annotated[str | None, typer.Option(help="New subject.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="File holding the new body.")] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the edited draft too.")] = False,
    as_user: AsUser = None,
) -> None:
    """Edit a draft's subject or body (the original is kept), optionally approving it."""
    body = body_file.read_text(encoding="utf-8") if body_file else None
    _decide(ctx, draft_id, "edit_and_approve" if approve else "edit", as_user, subject=subject, body=body)


@app.command()
def send(
    ctx: typer.Context,
    resend_unfinished: Annotated[bool, typer.Option(
        "--resend-unfinished", help="Resend drafts whose earlier SMTP send never recorded its outcome.")] = False,
    as_user: AsUser = None,
) -> None:
    """Deliver approved drafts once: through SMTP (CSDESK_SMTP_*) or into the outbox folder as .eml files."""
    from server.draft_commands import send as send_drafts

    where, report = run(send_drafts(settings_of(ctx), as_user=as_user, resend_unfinished=resend_unfinished))
    print(f"sent {len(report.sent)} draft(s) through {where}; {len(report.failed)} failed")
    for draft_id, error in report.failed.items():
        print(f"  draft {draft_id}: {error}", file=sys.stderr)
    if report.unfinished:
        print(f"  {len(report.unfinished)} draft(s) were claimed by an earlier send that did not finish: "
              f"{', '.join(map(str, report.unfinished))}. Check whether they went out, then run "
              "`csdesk send --resend-unfinished` to send them.", file=sys.stderr)
    if report.failed or report.unfinished:
        raise typer.Exit(1)


@events_app.command("status")
def events_status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
                  ) -> None:
    """Events received per hour, refused requests and why, users and groups in no known account, and the
    lag from a change to its assessment."""
    from server.event_commands import print_status, read_status

    status = run(read_status(settings_of(ctx)))
    if as_json:
        print(status.model_dump_json(indent=2))
    else:
        print_status(status, Console())


@events_app.command("rebuild")
def events_rebuild(ctx: typer.Context, since: Annotated[str, typer.Option(help="First month to recount, as a "
                                                                               "date: 2026-11-01.")]) -> None:
    """Recount usage from the kept events, from SINCE's month on, with each user's account read again
    (after a user moved account, or an account got the external id its product's groupId names)."""
    from datetime import date

    from server.event_commands import rebuild_usage

    try:
        day = date.fromisoformat(since)
    except ValueError:
        err.print(f"[bold red]error:[/] --since must be a date like 2026-11-01; got {since!r}", highlight=False)
        raise typer.Exit(2) from None
    rebuilt = run(rebuild_usage(settings_of(ctx), since=day))
    print(f"recounted {rebuilt.events:,} events into {rebuilt.months:,} account-month(s) from {rebuilt.since}; "
          f"{rebuilt.users_remapped:,} user(s) moved account; {len(rebuilt.accounts):,} account(s) marked for "
          "re-assessment")


@events_app.command("prune")
def events_prune(ctx: typer.Context) -> None:
    """Delete events older than CSDESK_EVENTS_KEEP_DAYS (the worker does this after each cycle); the usage
    they counted stays."""
    from server.event_commands import prune_now

    print(f"pruned {run(prune_now(settings_of(ctx))):,} events")


@health_model_app.command("show")
def health_model_show(ctx: typer.Context,
                      as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The model in force (the shipped one, with CSDESK_HEALTH_MODEL's file laid over it): each signal's
    dimension, weight, share of the score and scale, and what each segment changes."""
    from server.health_commands import print_model
    from store.health.model import ModelFileError, load_model
    from store.health.model_summary import model_summary

    try:
        model = load_model(settings_of(ctx).health_model)
    except ModelFileError as refused:
        err.print(f"[bold red]error:[/] {refused}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(model_summary(model), indent=2))
    else:
        # Wide enough for a scale on one line, also when the output is not a terminal (80 columns).
        console = Console()
        print_model(model, Console(width=max(console.width, 150)))


@health_model_app.command("check")
def health_model_check(file: Annotated[Path, typer.Argument(help="A health model file (TOML).")]) -> None:
    """Validate a model file before pointing CSDESK_HEALTH_MODEL at it: every problem is named with its line;
    exit status 2 when there is one."""
    from store.health.model import ModelFileError, load_model

    try:
        model = load_model(file)
    except ModelFileError as refused:
        err.print(f"[bold red]error:[/] {refused}", highlight=False)
        raise typer.Exit(2) from None
    print(f"{file} is a valid health model: {model.id}")


@health_app.command("backtest")
def health_backtest(ctx: typer.Context,
                    horizon: Annotated[int, typer.Option(min=7, max=730, help="Days between the score and the "
                                                                               "outcome it is judged by.")] = 90,
                    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """How well the model in force predicted this team's churn: every outcome on record (a renewal closed lost
    or won, a contraction, a churned account) against the account's score HORIZON days before it. ROC AUC,
    how often at_risk was right and churn per status, overall and per segment."""
    from server.health_evaluation_commands import print_backtest, run_backtest

    result = run(run_backtest(settings_of(ctx), horizon=horizon))
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print_backtest(result, Console(width=max(Console().width, 150)))


@health_app.command("calibrate")
def health_calibrate(ctx: typer.Context,
                     outcomes: Annotated[Path | None, typer.Option(help="CSV of account, outcome (churned, lost, "
                                                                        "contraction, renewed, retained), date; "
                                                                        "default: the store's closed renewals.")]
                     = None,
                     horizon: Annotated[int, typer.Option(min=7, max=730)] = 90,
                     seed: Annotated[int, typer.Option(help="Seed of the cross-validation folds.")] = 0,
                     write: Annotated[Path | None, typer.Option(help="Write the fitted model file here (nothing is "
                                                                     "applied until CSDESK_HEALTH_MODEL names it).")]
                     = None,
                     as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Fit the signals' weights to outcomes (a regularised logistic regression, cross-validated) and print the
    backtest of the current and the fitted model side by side. Nothing changes unless --write names a file
    and CSDESK_HEALTH_MODEL is pointed at it."""
    from server.health_evaluation_commands import print_calibration, run_calibration

    result = run(run_calibration(settings_of(ctx), horizon=horizon, outcomes=outcomes, seed=seed))
    if as_json:
        print(result.model_dump_json(indent=2, exclude={"model_text"}))
    else:
        print_calibration(result, Console(width=max(Console().width, 150)))
    if write is not None:
        write.write_text(result.model_text, encoding="utf-8")
        err.print(f"Wrote {write}; check it with `csdesk health model check {write}` and set "
                  f"CSDESK_HEALTH_MODEL={write} to use it.", highlight=False)


def main() -> None:
    app()
