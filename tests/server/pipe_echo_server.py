"""A small MCP server served by csdesk's stdio transport, for tests/server/test_stdio_pipes.py."""

import os

import anyio
from mcp.server import MCPServer

from server.stdio_pipes import run_stdio

server = MCPServer("pipe-echo")


@server.tool()
def length(text: str) -> int:
    """The length of text."""
    return len(text)


@server.tool()
def stray_output() -> str:
    """Print to stdout the ways careless code does, then answer."""
    print("stray print", flush=True)
    os.write(1, b"stray write\n")
    return "ok"


if __name__ == "__main__":
    anyio.run(run_stdio, server)
