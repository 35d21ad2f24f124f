"""Running the MCP server over stdio or Streamable HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from server.app import build_server
from server.auth import ApiTokenVerifier
from server.context import AppContext, open_app
from server.event_rollup import rolling_up
from server.figure_keeper import keeping_figures
from server.ingest_web import ingest_routes
from server.oauth import EitherVerifier, JwtVerifier
from server.settings import Settings
from server.web import web_routes
from server.web.session import SessionSigner
from store.auth.principals import Principal
from store.auth.tokens import TOKEN_PREFIX, check_token, list_tokens
from store.auth.users import principal_for
from store.errors import Forbidden
from store.events.status import events_status
from store.vocabulary import PORTFOLIO_WRITER_ROLES


async def check_ready(settings: Settings) -> Principal:
    """Migrate the database and resolve CSDESK_USER before serving, so a misconfiguration fails loudly."""
    async with open_app(settings) as app, app.read_sessions() as session:
        return await principal_for(session, email=settings.user)


def serve_stdio(settings: Settings) -> None:
    anyio.run(build_server(settings).run_stdio_async)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection stays on: loopback names, the public host when there is one, and any
    hosts and origins configured beside it (an internal name the load balancer uses, say)."""
    hosts, origins = ["127.0.0.1:*", "localhost:*", "[::1]:*"], ["http://127.0.0.1:*", "http://localhost:*"]
    if settings.public_url:
        parsed = urlsplit(settings.public_url)
        hosts.append(parsed.netloc)
        origins.append(f"{parsed.scheme}://{parsed.netloc}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=[*hosts, *settings.allowed_hosts],
                                     allowed_origins=[*origins, *settings.allowed_origins])


def build_http_app(settings: Settings, *, host: str, port: int = 8765) -> Starlette:
    """MCP at /mcp (bearer tokens), the web desk (/, /renewals, /accounts, /portfolio, /review), product
    events at /v1 (write keys), and /healthz."""
    opened: dict[str, AppContext] = {}
    public_url = settings.public_url or f"http://{host if host not in {'0.0.0.0', '::'} else '127.0.0.1'}:{port}"
    mcp = build_server(settings, token_verifier=token_verifier(settings, lambda: opened["app"], public_url),
                       public_url=public_url)
    security = transport_security(settings)
    # Stateless: each request stands alone (no Mcp-Session-Id), so any process behind the address can
    # answer it; everything a request needs is in the database.
    mcp_app = mcp.streamable_http_app(host=host, transport_security=security,
                                      stateless_http=settings.stateless_http)
    secret = settings.session_secret.get_secret_value().encode() if settings.session_secret \
        else secrets.token_bytes(32)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_app(settings) as context, mcp.session_manager.run(), rolling_up(context), \
                keeping_figures(context):
            app.state.csdesk = opened["app"] = context
            yield

    async def healthz(request: Request) -> JSONResponse:
        """Up or not, for load balancers; with an admin's or manager's API token, the event feed's status."""
        answer: dict[str, object] = {"status": "ok"}
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            context: AppContext = request.app.state.csdesk
            try:
                async with context.read_sessions() as session:
                    checked = await check_token(session, token=token.strip(), now=context.clock.now())
                    if checked.principal.role not in PORTFOLIO_WRITER_ROLES:
                        raise Forbidden("the feed's status is for admins and managers")
                    answer["events"] = (await events_status(session, now=datetime.now(UTC))).model_dump(mode="json")
            except Forbidden as exc:
                return JSONResponse({"status": "ok", "error": str(exc)}, status_code=403)
        return JSONResponse(answer)

    routes = [Route("/healthz", healthz, methods=["GET"]),
              *ingest_routes(lambda request: request.app.state.csdesk, security),
              *web_routes(lambda request: request.app.state.csdesk, SessionSigner(secret), security,
                          secure_cookies=settings.secure_cookies),
              Mount("/", app=mcp_app)]
    return Starlette(routes=routes, lifespan=lifespan)


def token_verifier(settings: Settings, app_of: Callable[[], AppContext], public_url: str) -> EitherVerifier:
    """API tokens always; JWTs from the configured OAuth issuer as well when there is one."""
    jwts = None
    if settings.oauth_issuer:
        resource = f"{public_url.rstrip('/')}/mcp"
        jwts = JwtVerifier(app_of, issuer=settings.oauth_issuer, audience=settings.oauth_audience or resource,
                           resource=resource, email_claim=settings.oauth_email_claim,
                           jwks_url=settings.oauth_jwks_url)
    return EitherVerifier(ApiTokenVerifier(app_of), jwts, api_token_prefix=TOKEN_PREFIX)


def serve_http(settings: Settings, *, host: str, port: int) -> None:
    uvicorn.run(build_http_app(settings, host=host, port=port), host=host, port=port,
                log_level=settings.log_level.lower())


async def count_active_tokens(settings: Settings) -> int:
    """Migrate, and say how many tokens could call the HTTP server."""
    async with open_app(settings) as app, app.read_sessions() as session:
        return sum(1 for token in await list_tokens(session) if not token.revoked)
