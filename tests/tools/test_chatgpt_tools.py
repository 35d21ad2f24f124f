"""search and fetch in the shapes ChatGPT's deep research and company knowledge require."""

import json

from tests.conftest import ClientFactory
from tests.tools.helpers import call_error, call_ok


def _only_text(result) -> dict:  # noqa: ANN001
    assert not result.is_error and len(result.content) == 1 and result.content[0].type == "text"
    return json.loads(result.content[0].text)


async def test_search_returns_results_with_ids_titles_and_urls_and_fetch_returns_the_document(
        connect: ClientFactory) -> None:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Orchard Capital", segment="enterprise", arr="373400",
                                renewal_date="2027-06-30")
        await call_ok(client, "add_health_note", account_id=account["id"], body="Orchard's CFO is reviewing vendors.")
        await call_ok(client, "assess_account", account_id=account["id"])
        found = _only_text(await client.call_tool("search", {"query": "orchard"}))
        ids = [result["id"] for result in found["results"]]
        fetched = _only_text(await client.call_tool("fetch", {"id": f"account:{account['id']}"}))
        note = _only_text(await client.call_tool("fetch", {"id": ids[1]}))
    assert set(found) == {"results"}
    assert ids[:2] == [f"account:{account['id']}", ids[1]] and ids[1].startswith("note:")
    for result in found["results"]:
        # No public address is set: the link is the account's resource, never a server that may not run.
        assert set(result) == {"id", "title", "url"} and result["url"] == f"csdesk://accounts/{account['id']}"
    assert set(fetched) == {"id", "title", "text", "url", "metadata"}
    assert fetched["title"] == "Orchard Capital" and fetched["text"].startswith("# Orchard Capital")
    assert fetched["metadata"]["arr"] == "373400.00"
    assert note["text"] == "Orchard's CFO is reviewing vendors."


async def test_fetch_refuses_ids_search_never_returned(connect: ClientFactory) -> None:
    async with connect("ana") as client:
        malformed = await call_error(client, "fetch", id="../../etc/passwd")
        missing = await call_error(client, "fetch", id="note:999")
        empty = await call_error(client, "search", query="   ")
    assert "id must look like account:12" in malformed
    assert "no note 999" in missing and "query must not be empty" in empty


async def test_search_links_to_the_public_address_when_one_is_set(main_db, main_settings) -> None:  # noqa: ANN001
    from mcp import Client

    from server.app import build_server
    from store.clock import FixedClock
    from tests.conftest import NOW

    settings = main_settings.model_copy(update={"user": "ana@example.com", "public_url": "https://cs.example.com/"})
    async with Client(build_server(settings, clock=FixedClock(NOW)), mode="auto") as client:
        account = await call_ok(client, "create_account", name="Linked Co", segment="smb", arr="1000")
        found = _only_text(await client.call_tool("search", {"query": "linked"}))
    assert found["results"][0]["url"] == f"https://cs.example.com/accounts/{account['id']}"
