"""Every csdesk tool, built once with compact schemas."""

from __future__ import annotations

from tools import accounts, chatgpt, drafts, health, notifications, portfolio, relationship, renewals, tasks
from tools.arguments import CsdeskTool
from tools.schema import compact_schema, field_names_only, summarise_output

MODULES = (accounts, relationship, renewals, tasks, health, drafts, portfolio, notifications, chatgpt)
# Output schemas keep one level: an entity's fields, a page's keys, the 360's section names. Deeper
# shapes arrive with the data itself; spelling them out would double the size of tools/list. Write tools
# name their result's fields without types: the read tools describe the same entities in full.
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
                summary = summarise_output(full, depth=OUTPUT_SCHEMA_DEPTH)
                read_only = tool_annotations.read_only_hint is True
                tool.fn_metadata.output_schema = summary if read_only else field_names_only(summary)
            built.append(tool)
    return built
