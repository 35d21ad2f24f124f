"""csdesk's stdio transport: the pipes on the event loop, stray output kept off the wire, long request
lines read whole, and the SDK's own transport kept for a stdin that is not a pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVER = StdioServerParameters(command=sys.executable, args=["-m", "tests.server.pipe_echo_server"],
                                    env={"PYTHONPATH": str(ROOT)}, cwd=str(ROOT))


async def test_output_a_tool_prints_goes_to_stderr_and_the_answer_arrives(tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as errlog:
        async with Client(stdio_client(ECHO_SERVER, errlog=errlog)) as client:
            result = await client.call_tool("stray_output", {})
            again = await client.call_tool("length", {"text": "four"})
    assert not result.is_error and result.content[0].text == "ok"
    assert again.structured_content == {"result": 4}
    assert "stray print" in errors.read_text() and "stray write" in errors.read_text()


async def test_a_request_line_longer_than_the_event_loops_default_limit_is_read_whole() -> None:
    text = "x" * 300_000  # the event loop's streams stop at 64 KiB by default
    with anyio.fail_after(60):  # a line the server skipped would never be answered
        async with Client(ECHO_SERVER) as client:
            result = await client.call_tool("length", {"text": text})
            after = await client.call_tool("length", {"text": "ok"})
    assert result.structured_content == {"result": 300_000}
    assert after.structured_content == {"result": 2}


PROBE = """
import asyncio, os, sys
from server.stdio_pipes import pipe_streams

async def main():
    async with pipe_streams() as streams:
        os.write(2, b"pipes\\n" if streams else b"sdk\\n")
        if streams:
            lines, out = streams
            await out.write((await anext(lines)).upper())
            await out.flush()
            print("stray", flush=True)
    print("restored", flush=True)

asyncio.run(main())
"""


def test_pipes_are_served_on_the_event_loop_and_restored_afterwards() -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE], input="hello\n", capture_output=True, text=True,
                           cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout == "HELLO\nrestored\n"
    assert probe.stderr.splitlines()[:2] == ["pipes", "stray"]


def test_a_stdin_that_is_a_file_keeps_the_sdks_transport(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("hello\n")
    with requests.open() as stdin:
        probe = subprocess.run([sys.executable, "-c", PROBE], stdin=stdin, capture_output=True, text=True,
                               cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stderr.strip() == "sdk" and probe.stdout == "restored\n"


SKIPPING_PROBE = """
import asyncio, logging, os
from server import stdio_pipes

stdio_pipes.MAX_LINE_BYTES = 1000
logging.basicConfig(level=logging.ERROR, format="%(message)s")

async def main():
    async with stdio_pipes.pipe_streams() as (lines, out):
        async for line in lines:
            await out.write(f"read {len(line)}\\n")
            await out.flush()

asyncio.run(main())
"""


def test_a_line_over_the_limit_is_skipped_and_reported_and_the_next_one_read() -> None:
    lines = "a" * 999 + "\n" + "b" * 5000 + "\n" + "c" * 3000 + "\n" + "last"
    probe = subprocess.run([sys.executable, "-c", SKIPPING_PROBE], input=lines, capture_output=True, text=True,
                           cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout == "read 1000\nread 4\n"
    assert probe.stderr.splitlines() == ["skipped a request line of 5001 bytes: longer than 1000",
                                         "skipped a request line of 3001 bytes: longer than 1000"]
