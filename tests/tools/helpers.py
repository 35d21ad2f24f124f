"""Calling tools the way a client does, and reading the results."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.types import CallToolResult


async def call_ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; returns its structured content, checked against the text content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    # The text the model reads carries the same data, compactly.
    assert _drop_nones(json.loads(_text(result))) == _drop_nones(result.structured_content)
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; returns the error text the model sees."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {_text(result)}"
    text = _text(result)
    assert "Traceback" not in text
    return text


def _text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nones(item) for item in value]
    return value
