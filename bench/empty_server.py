"""An MCP server with one tool that returns "ok": what the transport alone costs per call.

With BENCH_ANSWER_FILE naming a JSON file of {"text": ..., "structured": ...} (a csdesk answer), two
more tools hand that answer back unchanged: as text alone (as the generic SQL peer answers), and as text
plus structured content (as csdesk answers): what carrying the structured copy costs over stdio."""

import json
import os
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, WithJsonSchema

server = MCPServer("empty")


@server.tool()
def ok() -> str:
    """Return ok."""
    return "ok"


class Page(BaseModel):
    """A page's keys, published with the same output schema as csdesk's list tools (so that a client
    checks the answer against the same schema)."""

    items: Annotated[list[dict[str, Any]], WithJsonSchema({"type": "array", "items": {"type": "object"}})]
    total: int
    next_cursor: Annotated[str | None, WithJsonSchema({"type": ["string", "null"]})] = None


if os.environ.get("BENCH_ANSWER_FILE"):
    with open(os.environ["BENCH_ANSWER_FILE"], encoding="utf-8") as answer_file:
        ANSWER = json.load(answer_file)

    @server.tool()
    def answer_as_text() -> str:
        """The answer as text alone."""
        return ANSWER["text"]

    @server.tool()
    def answer_with_structure() -> Annotated[CallToolResult, Page]:
        """The answer as text plus structured content."""
        return CallToolResult(content=[TextContent(type="text", text=ANSWER["text"])],
                              structured_content=ANSWER["structured"])


if __name__ == "__main__":
    server.run()
