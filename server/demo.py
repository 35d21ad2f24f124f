"""`csdesk demo`: create the database, seed the demo portfolio once, show the retention view."""

from __future__ import annotations

from server.agent_commands import cycle_with_progress, seeding_progress
from server.console import attention_table, make_console, portfolio_tables, renewals_table, retention_table
from server.context import open_app
from server.settings import Settings
from store.auth.users import principal_for
from store.crm import accounts as account_service
from store.crm import renewals
from store.crm.pagination import MAX_PAGE_SIZE
from store.crm.portfolio import portfolio_summary
from store.database.engine import refresh_statistics
from store.demo.portfolio import DEMO_USERS, seed_demo_portfolio
from store.health.assessments import latest_assessments
from store.schemas import AssessmentOut

RENEWAL_HORIZON_DAYS = 90
ATTENTION_ROWS = 12


async def run_demo(settings: Settings, *, accounts: int = 80) -> None:
    """Seed (once) and print the portfolio and the renewals due soon."""
    count = accounts
    console = make_console()
    async with open_app(settings) as app:
        today = app.clock.now().date()
        async with app.write_sessions() as session, session.begin():
            with seeding_progress(console) as on_progress:
                result = await seed_demo_portfolio(session, today=today, accounts=count, on_progress=on_progress)
        if result.created:
            await refresh_statistics(app.write_sessions)
            console.print(f"Seeded {result.accounts} accounts (and {result.churned} lost in the past year) for "
                          f"{result.users} users in {settings.describe_database()}.")
        else:
            console.print(f"{settings.describe_database()} already holds {result.accounts} accounts; "
                          "nothing was added.")
        await cycle_with_progress(app, console)
        manager_email = next(email for email, _name, role in DEMO_USERS if role == "manager")
        async with app.read_sessions() as session:
            manager = await principal_for(session, email=manager_email)
            attention = await account_service.list_accounts(
                session, principal=manager, filters=account_service.AccountFilters(sort="health_score"),
                today=today, limit=ATTENTION_ROWS)
            reasons = await latest_assessments(session, [row.id for row in attention.items])
            portfolio = await account_service.list_accounts(session, principal=manager,
                                                            filters=account_service.AccountFilters(),
                                                     today=today, limit=MAX_PAGE_SIZE)
            due = await renewals.list_renewals(session, principal=manager, today=today,
                                               within_days=RENEWAL_HORIZON_DAYS, limit=MAX_PAGE_SIZE)
            summary = await portfolio_summary(session, principal=manager, now=app.clock.now())
    shown = f"{len(portfolio.items)} of {portfolio.total}" if portfolio.total > len(portfolio.items) else "all"
    title = f"Retention view on {today}: health and ARR, by ARR ({shown})"
    console.print(retention_table(portfolio.items, title=title))
    console.print(renewals_table(due.items, title=f"Renewals due in the next {RENEWAL_HORIZON_DAYS} days "
                                                  f"({due.total}, overdue included)"))
    console.print(attention_table(attention.items, title="Needs attention first (lowest health), with the main reason",
                                  reasons={account_id: _main_reason(a) for account_id, a in reasons.items()}))
    for table in portfolio_tables(summary):
        console.print(table)
    for note in summary.notes:
        console.print(f"[dim]{note}[/dim]", highlight=False)
    console.print(next_steps(), highlight=False)


def next_steps() -> str:
    """Who can do what in the demo, and the commands that start each."""
    csm = next(email for email, _name, role in DEMO_USERS if role == "csm")
    reviewer = next(email for email, _name, role in DEMO_USERS if role == "reviewer")
    return (f"\nNext:\n"
            f"  connect an assistant as a CSM: [bold]CSDESK_USER={csm} .venv/bin/csdesk serve[/] (see the README)\n"
            f"  review the drafted outreach as {reviewer} (the demo's reviewer) in the terminal:\n"
            f"    [bold].venv/bin/csdesk drafts list --as {reviewer}[/]\n"
            f"  or in the browser: [bold].venv/bin/csdesk tokens create --user {reviewer} --name browser[/] "
            f"prints a token;\n"
            f"    [bold].venv/bin/csdesk serve --http[/], then sign in with it at "
            "http://127.0.0.1:8765/review")


def _main_reason(assessment: AssessmentOut) -> str:
    negative = [driver for driver in assessment.drivers if driver.get("impact") == "negative"]
    return str((negative or assessment.drivers or [{"evidence": assessment.summary}])[0]["evidence"])
