"""Every csdesk tool, built once with compact schemas."""

from __future__ import annotations

from tools import accounts, chatgpt, drafts, health, notifications, plans, portfolio, relationship, renewals, tasks
from tools.arguments import CsdeskTool
from tools.schema import compact_schema, field_names_only, summarise_output

MODULES = (accounts, relationship, plans, renewals, tasks, health, drafts, portfolio, notifications, chatgpt)
# Output schemas keep one level: an entity's fields, a page's keys, the 360's section names. Deeper
# shapes arrive with the data itself; spelling them out would double the size of tools/list. Write tools
# name their result's fields without types: the read tools describe the same entities in full.
OUTPUT_SCHEMA_DEPTH = 1
# What a client shows a person for each tool (the model reads the name and description).
TITLES = {
    "list_accounts": "List accounts", "get_account": "Get account", "create_account": "Create account",
    "update_account": "Update account", "upsert_contact": "Add or update contact",
    "add_health_note": "Add health note", "log_touchpoint": "Log touchpoint", "list_renewals": "List renewals",
    "update_renewal": "Update renewal", "list_tasks": "List tasks", "create_task": "Create task",
    "update_task": "Update task", "assess_account": "Assess account health", "draft_touchpoint": "Draft outreach",
    "list_drafts": "List drafts for review", "get_draft": "Get draft", "review_draft": "Review draft",
    "portfolio_summary": "Portfolio summary", "list_notifications": "List notifications", "search": "Search",
    "fetch": "Fetch document", "update_success_plan": "Update success plan",
}


def build_tools() -> list[CsdeskTool]:
    """The tool objects the server registers, in catalogue order."""
    built = []
    for module in MODULES:
        for function, tool_annotations in module.tools():
            # Docstrings are written for the model; their line breaks and indentation only cost tokens.
            description = " ".join((function.__doc__ or "").split())
            tool = CsdeskTool.from_function(function, title=TITLES[function.__name__], annotations=tool_annotations,
                                            description=description)
            tool.parameters = compact_schema(tool.parameters)
            if tool.fn_metadata.output_schema is not None:
                full = compact_schema(tool.fn_metadata.output_schema)
                summary = summarise_output(full, depth=OUTPUT_SCHEMA_DEPTH)
                read_only = tool_annotations.read_only_hint is True
                tool.fn_metadata.output_schema = summary if read_only else field_names_only(summary)
            built.append(tool)
    return built
