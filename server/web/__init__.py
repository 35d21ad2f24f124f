"""The web desk under `csdesk serve --http`: the retention view, renewals, account pages, the manager's
dashboard and the review queue, server-rendered, behind the same sign-in, CSRF and Host checks."""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route

from server.context import AppContext
from server.web.account_page import account_routes
from server.web.desk import desk_routes
from server.web.pages import Pages
from server.web.portfolio_page import portfolio_routes
from server.web.review import review_routes
from server.web.session import SessionSigner
from server.web.signin import signin_routes


def web_routes(app_of: Callable[[Request], AppContext], signer: SessionSigner, security: TransportSecuritySettings,
               *, secure_cookies: bool) -> list[Route]:
    pages = Pages(app_of, signer, security, secure_cookies=secure_cookies)
    return [*signin_routes(pages), *desk_routes(pages), *account_routes(pages), *portfolio_routes(pages),
            *review_routes(pages)]
