"""Every csdesk tool, built once with compact schemas."""

from __future__ import annotations

from tools import accounts, chatgpt, drafts, health, notifications, relationship, renewals, tasks
from tools.arguments import CsdeskTool
from tools.schema import compact_schema, summarise_output

MODULES = (accounts, relationship, renewals, tasks, health, drafts, notifications, chatgpt)
# Output schemas keep one level: an entity's fields, a page's keys, the 360's section names. Deeper
# shapes arrive with the data itself; spelling them out would double the size of tools/list.
OUTPUT_SCHEMA_DEPTH = 1


def build_tools() -> list[CsdeskTool]:
    """The tool objects the server registers, in catalogue order."""
    built = []
    for module in MODULES:
        for function, tool_annotations in module.tools():
            # Docstrings are written for the model; their line breaks and indentation only cost tokens.
            description = " ".join((function.__doc__ or "").split())
            tool = CsdeskTool.from_function(function, annotations=tool_annotations, description=description)
            tool.parameters = compact_schema(tool.parameters)
            if tool.fn_metadata.output_schema is not None:
                full = compact_schema(tool.fn_metadata.output_schema)
                tool.fn_metadata.output_schema = summarise_output(full, depth=OUTPUT_SCHEMA_DEPTH)
            built.append(tool)
    return built
