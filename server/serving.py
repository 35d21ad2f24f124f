"""Running the MCP server over stdio or Streamable HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from server.app import build_server
from server.context import open_app
from server.review_web import review_routes
from server.settings import Settings
from server.web_session import SessionSigner
from store.principals import Principal
from store.users import principal_for


async def check_ready(settings: Settings) -> Principal:
    """Migrate the database and resolve CSDESK_USER before serving, so a misconfiguration fails loudly."""
    async with open_app(settings) as app, app.read_sessions() as session:
        return await principal_for(session, email=settings.user)


def serve_stdio(settings: Settings) -> None:
    build_server(settings).run()


def build_http_app(settings: Settings, *, host: str) -> Starlette:
    """MCP at /mcp, the review page at /review, and /healthz, sharing one database connection pool."""
    mcp = build_server(settings)
    mcp_app = mcp.streamable_http_app(host=host)
    secret = settings.session_secret.get_secret_value().encode() if settings.session_secret \
        else secrets.token_bytes(32)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_app(settings) as context, mcp.session_manager.run():
            app.state.csdesk = context
            yield

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route("/healthz", healthz, methods=["GET"]),
              *review_routes(lambda request: request.app.state.csdesk, SessionSigner(secret),
                             secure_cookies=settings.secure_cookies),
              Mount("/", app=mcp_app)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve_http(settings: Settings, *, host: str, port: int) -> None:
    uvicorn.run(build_http_app(settings, host=host), host=host, port=port, log_level=settings.log_level.lower())
