"""MCP Apps: four tools carry `_meta.ui.resourceUri` pointing at a `ui://csdesk/...` view of their own
result, which hosts that negotiate the extension (Claude, ChatGPT, VS Code, Goose) render inline.

The views are self-contained HTML (`prompts/templates/apps/`), served as `text/html;profile=mcp-app`
through the SDK's `mcp.server.apps.Apps` extension, with a Content-Security-Policy that allows no
outside origin: no remote script, style, image or connection. They speak the host's postMessage
protocol and act only through tools/call, which the server authorizes as any other call. A client that
does not negotiate the extension gets exactly the results it got before.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp.server.apps import Apps, ResourceCsp
from mcp.server.mcpserver.tools import Tool

from prompts import render

# tool → (view template, its ui:// address, what it shows)
VIEWS = {
    "list_accounts": ("accounts.html", "ui://csdesk/accounts.html", "The retention view as a table"),
    "get_account": ("account.html", "ui://csdesk/account.html", "An account card with its health chart"),
    "portfolio_summary": ("portfolio.html", "ui://csdesk/portfolio.html", "The portfolio dashboard"),
    "list_drafts": ("drafts.html", "ui://csdesk/drafts.html", "The review queue"),
}


def apps_extension() -> Apps:
    """The extension with every view registered (and the capability it advertises)."""
    apps = Apps()
    for template, uri, description in VIEWS.values():
        apps.add_html_resource(uri, render(f"apps/{template}"), name=uri, title=f"csdesk: {description.lower()}",
                               description=description,
                               csp=ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[],
                                               base_uri_domains=[]),
                               prefers_border=True)
    return apps


def bind_views(tools: Iterable[Tool]) -> None:
    """Point each viewed tool at its view, in the `_meta.ui` shape `Apps.tool` stamps (the tools are built
    once with compact schemas by tools.registry, so they are marked here rather than re-registered)."""
    for tool in tools:
        if tool.name in VIEWS:
            tool.meta = {**(tool.meta or {}), "ui": {"resourceUri": VIEWS[tool.name][1]}}
