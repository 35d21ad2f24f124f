"""Running the MCP server over stdio or Streamable HTTP."""

from __future__ import annotations

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.app import build_server
from server.context import open_app
from server.settings import Settings
from store.principals import Principal
from store.users import principal_for


async def check_ready(settings: Settings) -> Principal:
    """Migrate the database and resolve CSDESK_USER before serving, so a misconfiguration fails loudly."""
    async with open_app(settings) as app, app.read_sessions() as session:
        return await principal_for(session, email=settings.user)


def serve_stdio(settings: Settings) -> None:
    build_server(settings).run()


def serve_http(settings: Settings, *, host: str, port: int) -> None:
    mcp = build_server(settings)

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    starlette_app = mcp.streamable_http_app(host=host)
    uvicorn.run(starlette_app, host=host, port=port, log_level=settings.log_level.lower())
