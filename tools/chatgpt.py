"""ChatGPT's deep research and company knowledge call only these: `search` and `fetch`, in its shapes."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from prompts import render
from store.crm import search as crm_search
from tools.common import READ, ToolSpec, app_of, respond, unit_of_work


class SearchResult(BaseModel):
    id: str
    title: str
    url: str


class SearchResults(BaseModel):
    results: list[SearchResult]


class FetchResult(BaseModel):
    id: str
    title: str
    text: str
    url: str
    metadata: dict[str, Any]


def tools() -> list[ToolSpec]:
    return [(search, READ), (fetch, READ)]


def _url(ctx: Context, account_id: int) -> str:
    """The account's page at CSDESK_PUBLIC_URL, else its brief as an MCP resource (csdesk://accounts/{id})."""
    base = app_of(ctx).public_base_url()
    return f"{base}/accounts/{account_id}" if base else f"csdesk://accounts/{account_id}"


async def search(ctx: Context, query: Annotated[str, Field(description="Words to look for.")]
                 ) -> Annotated[CallToolResult, SearchResults]:
    """Search accounts, health notes and health assessments; returns ids for fetch. Each url is the account's
    page at CSDESK_PUBLIC_URL, else its csdesk://accounts/{id} resource."""
    async with unit_of_work(ctx, write=False) as work:
        hits = await crm_search.search(work.session, query=query)
    return respond(SearchResults(results=[SearchResult(id=hit.id, title=hit.title, url=_url(ctx, hit.account_id))
                                          for hit in hits]))


async def fetch(ctx: Context, id: Annotated[str, Field(description="An id from search.")]  # noqa: A002
                ) -> Annotated[CallToolResult, FetchResult]:
    """The full text of one search result."""
    async with unit_of_work(ctx, write=False) as work:
        document = await crm_search.fetch(work.session, document_id=id, now=work.now)
    text = render("account_brief.md.j2", a=document.body) if document.kind == "account" else str(document.body)
    return respond(FetchResult(id=document.id, title=document.title, text=text, url=_url(ctx, document.account_id),
                               metadata=document.metadata))
