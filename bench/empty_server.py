"""An MCP server with one tool that returns "ok": what the transport alone costs per call."""

from mcp.server import MCPServer

server = MCPServer("empty")


@server.tool()
def ok() -> str:
    """Return ok."""
    return "ok"


if __name__ == "__main__":
    server.run()
