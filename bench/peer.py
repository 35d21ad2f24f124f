"""The generic peer: `mcp-server-sqlite` from PyPI on the same SQLite file, answering the same
questions with the SQL a model would write. It needs `mcp<2`, so it lives in a virtualenv of its own
(created on first use under bench/.data). bench.latency times it beside csdesk's stdio server, in
alternating rounds, and prints its answer sizes.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from bench.portfolio import CACHE, CSM, NOW, TODAY
from store.crm.renewals import add_months

PEER_PACKAGES = ("mcp-server-sqlite==2025.4.25", "mcp<2")
PEER_VENV = CACHE / "peer-venv"
HORIZON = (TODAY + timedelta(days=90)).isoformat()
# The twelve months ending today, as csdesk's retention figures default to.
PERIOD_START = (add_months(TODAY, -12) + timedelta(days=1)).isoformat()
# csdesk's summary compares health with a month ago and lists the week's risk movers.
MONTH_AGO, WEEK_AGO = NOW - timedelta(days=30), NOW - timedelta(days=7)
# How mcp-server-sqlite words a failure: it answers with text, without marking the result an error.
PEER_ERROR_PREFIXES = ("Error: ", "Database error: ")
OPEN_STAGES = "('upcoming','in_discussion','proposal_sent','verbal_commit')"


def peer_command() -> str:
    """The peer's executable, installed into its own virtualenv the first time."""
    executable = PEER_VENV / "bin" / "mcp-server-sqlite"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "--quiet", *PEER_PACKAGES], check=True)
    return str(executable)


def _latest_before(table: str, value: str, moment: str, *, date_column: str, inclusive: bool = True) -> str:
    """Each account's latest row of `table` by `date_column` up to `moment`: the window query a model writes."""
    bound = "<=" if inclusive else "<"
    return (f"(SELECT account_id, {value} FROM (SELECT account_id, {value}, row_number() OVER (PARTITION BY "
            f"account_id ORDER BY {date_column} DESC, id DESC) AS n FROM {table} WHERE {date_column} {bound} "
            f"'{moment}') WHERE n = 1)")


def _stored(moment: object) -> str:
    """A moment as SQLite holds csdesk's timestamps."""
    return f"{moment:%Y-%m-%d %H:%M:%S.%f}"


def _risk_movers(became: bool) -> str:
    """The ten largest accounts that became (or stopped being) at_risk since a week ago; churn counts as
    stopping."""
    was = "coalesce(w.status, 'unassessed')"
    moved = (f"a.status = 'active' AND a.health_status = 'at_risk' AND {was} != 'at_risk'" if became else
             f"{was} = 'at_risk' AND ((a.status = 'active' AND a.health_status != 'at_risk') OR "
             f"(a.status = 'churned' AND a.churned_on > '{WEEK_AGO.date()}'))")
    return (f"SELECT a.id, a.name, a.arr, a.health_status, {was} AS was FROM accounts a LEFT JOIN "
            f"{_latest_before('assessments', 'status', _stored(WEEK_AGO), date_column='created_at')} AS w "
            f"ON w.account_id = a.id WHERE {moved} ORDER BY a.arr DESC, a.id LIMIT 10")


def questions(account_id: int, renewal_id: int) -> dict[str, list[tuple[str, str]]]:
    """Per csdesk tool, the peer calls (tool, SQL) a model would make to answer the same question."""
    me = f"(SELECT id FROM users WHERE email = '{CSM}')"
    account = f"account_id = {account_id}"
    return {
        "list_accounts": [("read_query",
                           "SELECT a.id, a.name, a.segment, a.arr, a.currency, a.renewal_date, a.health_status, "
                           "a.health_score, a.health_trend, a.churn_risk_reason FROM accounts a "
                           f"WHERE a.owner_id = {me} AND a.status = 'active' AND a.health_status = 'at_risk' "
                           f"AND a.renewal_date BETWEEN '{TODAY}' AND '{HORIZON}' ORDER BY a.arr DESC LIMIT 25")],
        "list_accounts/25": [("read_query",
                              "SELECT a.id, a.name, a.segment, a.arr, a.currency, a.renewal_date, a.health_status, "
                              "a.health_score, a.health_trend, a.churn_risk_reason FROM accounts a "
                              f"WHERE a.owner_id = {me} AND a.status = 'active' ORDER BY a.arr DESC LIMIT 25")],
        "get_account": [("read_query", sql) for sql in (
            f"SELECT * FROM accounts WHERE id = {account_id}",
            f"SELECT * FROM contacts WHERE {account}",
            f"SELECT * FROM renewals WHERE {account} AND stage IN {OPEN_STAGES} ORDER BY due_date LIMIT 1",
            f"SELECT * FROM touchpoints WHERE {account} ORDER BY occurred_at DESC LIMIT 5",
            f"SELECT * FROM health_notes WHERE {account} ORDER BY created_at DESC LIMIT 5",
            f"SELECT * FROM tasks WHERE {account} AND status IN ('open','in_progress')",
            f"SELECT * FROM usage_snapshots WHERE {account} ORDER BY period_start DESC LIMIT 6",
            f"SELECT * FROM support_tickets WHERE {account} AND closed_at IS NULL",
            f"SELECT * FROM survey_responses WHERE {account} ORDER BY responded_at DESC LIMIT 5",
            f"SELECT status, score, trend, summary, drivers, next_actions FROM assessments WHERE {account} "
            "ORDER BY created_at DESC LIMIT 1")],
        "list_renewals": [("read_query",
                           "SELECT r.id, a.name, r.due_date, r.stage, r.target_amount, r.forecast_amount, a.arr, "
                           "a.health_status, a.health_score FROM renewals r JOIN accounts a ON a.id = r.account_id "
                           f"WHERE r.owner_id = {me} AND r.stage IN {OPEN_STAGES} AND r.due_date <= '{HORIZON}' "
                           "ORDER BY r.due_date LIMIT 25")],
        "portfolio_summary": [("read_query", sql) for sql in (
            "SELECT coalesce(health_status, 'unassessed') AS status, count(*) AS accounts, sum(arr) AS arr "
            "FROM accounts WHERE status = 'active' GROUP BY 1",
            "SELECT strftime('%Y', r.due_date) || '-Q' || ((cast(strftime('%m', r.due_date) AS integer) + 2) / 3) "
            "AS quarter, count(*), sum(r.target_amount), sum(r.forecast_amount), sum(CASE WHEN a.health_status = "
            "'at_risk' THEN r.target_amount ELSE 0 END) FROM renewals r JOIN accounts a ON a.id = r.account_id "
            f"WHERE r.stage IN {OPEN_STAGES} AND a.status = 'active' GROUP BY 1 ORDER BY 1",
            # The peer runs only statements that begin with SELECT: the cohort and its ending ARR as
            # subqueries, each account's latest revenue event before the period and at its end.
            "SELECT sum(s.arr_after), sum(min(s.arr_after, coalesce(e.arr_after, 0))), sum(coalesce(e.arr_after, 0)), "
            "count(*), sum(coalesce(e.arr_after, 0) = 0) FROM "
            f"{_latest_before('revenue_events', 'arr_after', PERIOD_START, date_column='occurred_on', inclusive=False)}"
            " AS s LEFT JOIN "
            f"{_latest_before('revenue_events', 'arr_after', TODAY.isoformat(), date_column='occurred_on')} AS e "
            "ON e.account_id = s.account_id WHERE s.arr_after > 0",
            # Health a month ago: the accounts paying then, by their latest assessment then.
            "SELECT coalesce(s.status, 'unassessed') AS status, count(*), sum(e.arr_after) FROM "
            f"{_latest_before('revenue_events', 'arr_after', MONTH_AGO.date().isoformat(), date_column='occurred_on')}"
            " AS e LEFT JOIN "
            f"{_latest_before('assessments', 'status', _stored(MONTH_AGO), date_column='created_at')} AS s "
            "ON s.account_id = e.account_id WHERE e.arr_after > 0 GROUP BY 1",
            _risk_movers(became=True),
            _risk_movers(became=False),
        )],
        "update_renewal": [("write_query",
                            f"UPDATE renewals SET forecast_amount = 1500.00 WHERE id = {renewal_id}")],
    }


def refused(result: CallToolResult) -> bool:
    """The peer reports a refused or failed query as ordinary text, not as a tool error."""
    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
    return result.is_error or text.startswith(PEER_ERROR_PREFIXES)


def peer_client(db_path: Path) -> Client:
    """An MCP client of the peer serving `db_path` (not yet connected)."""
    return Client(StdioServerParameters(command=peer_command(), args=["--db-path", str(db_path)]), mode="legacy")


async def ask_peer(client: Client, steps: list[tuple[str, str]]) -> int:
    """Put one question's peer calls; the characters of their answers."""
    total = 0
    for peer_tool, sql in steps:
        result = await client.call_tool(peer_tool, {"query": sql})
        if refused(result):
            raise RuntimeError(f"the peer refused {sql[:60]}…: {result.content[0].text}")
        total += sum(len(block.text) for block in result.content if block.type == "text")
    return total


async def peer_tools_list_size(db_path: Path) -> str:
    params = StdioServerParameters(command=peer_command(), args=["--db-path", str(db_path)])
    async with Client(params, mode="legacy") as client:
        return (await client.list_tools()).model_dump_json(by_alias=True, exclude_none=True)
