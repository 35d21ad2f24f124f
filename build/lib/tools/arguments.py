"""Argument errors a model can act on: which argument, what was wrong, what is accepted."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from pydantic import ValidationError

# What a valid value looks like, by the pydantic error type that rejected it. Longer prefixes first:
# "datetime_…" must not match "date".
_EXAMPLES = {
    "datetime": "an ISO 8601 time with a zone, like 2026-11-20T15:00:00Z",
    "date": "a date like 2027-03-31",
    "decimal": "an amount like 125000 or 125000.50",
    "int": "a whole number",
    "bool": "true or false",
}


def describe(error: ValidationError) -> str:
    """One line per rejected argument, without pydantic's internals."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        message = problem["msg"]
        if problem["type"] in {"missing", "missing_argument"}:
            lines.append(f"{where}: required")
            continue
        example = next((text for prefix, text in _EXAMPLES.items() if problem["type"].startswith(prefix)), None)
        got = _shown(problem.get("input"))
        lines.append(f"{where}: {message}" + (f"; expected {example}" if example else "") + f" (got {got})")
    return "invalid arguments: " + "; ".join(lines)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class CsdeskTool(Tool):
    """A tool whose argument errors read as instructions rather than a validation dump."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"{self.name}: {describe(exc.__cause__)}") from exc.__cause__
            raise
