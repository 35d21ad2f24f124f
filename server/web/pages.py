"""What every page of the web desk shares: the Host and Origin check, the signed-in user from the session
cookie, CSRF tokens, and rendering with the security headers.

Pages are server-rendered jinja2 with autoescaping: CRM text is shown, never run. No script runs on
any page (the Content-Security-Policy allows none), so a planted `<script>` or `onerror` is inert even
if escaping were ever missed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from prompts import render
from server.context import AppContext
from server.web.session import SESSION_COOKIE, Session, SessionSigner
from store.auth.principals import Principal
from store.database.models import User
from store.vocabulary import PORTFOLIO_WRITER_ROLES

SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                               "form-action 'self'; frame-ancestors 'none'",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff"}
# "same-origin", not "no-referrer": under no-referrer a browser sends `Origin: null` with a form's POST,
# which the Origin check must refuse.
SIGN_IN = "/review/login"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page, and the form token for their session."""

    principal: Principal
    csrf: str

    @property
    def is_manager(self) -> bool:
        """Managers and admins see the whole portfolio and its dashboard."""
        return self.principal.role in PORTFOLIO_WRITER_ROLES


Handler = Callable[[Request, Viewer], Awaitable[Response]]


class Pages:
    """Builds the desk's routes: each checks Host and Origin first, then (unless public) the session."""

    def __init__(self, app_of: Callable[[Request], AppContext], signer: SessionSigner,
                 security: TransportSecuritySettings, *, secure_cookies: bool) -> None:
        self.app_of = app_of
        self.signer = signer
        self.secure_cookies = secure_cookies
        self._guard = TransportSecurityMiddleware(security)

    def render(self, name: str, *, viewer: Viewer | None, status: int = 200, **variables: Any) -> HTMLResponse:
        values = {"flash": None, "flash_error": False, "section": "", "me": viewer.principal if viewer else None,
                  "csrf": viewer.csrf if viewer else "", "is_manager": bool(viewer and viewer.is_manager),
                  **variables}
        return HTMLResponse(render(f"web/{name}", **values), status_code=status, headers=SECURITY_HEADERS)

    def problem(self, viewer: Viewer | None, message: str, *, status: int, title: str = "Not shown") -> HTMLResponse:
        """A page that says what went wrong and nothing else (a bad filter, an unknown id)."""
        return self.render("problem.html", viewer=viewer, status=status, title=title, flash=message,
                           flash_error=True)

    def refused(self, viewer: Viewer, problems: list[str], *, what: str, title: str) -> HTMLResponse:
        """400: the query's filters, every problem with what is accepted (server.web.query)."""
        return self.problem(viewer, f"{what} are not valid: " + "; ".join(problems) + ".", status=400, title=title)

    async def viewer(self, request: Request) -> Viewer | None:
        """Who the session cookie belongs to: None when it is missing, forged, expired, or the user is gone,
        deactivated or the agent's own."""
        session = self.signer.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        async with self.app_of(request).read_sessions() as db:
            user = await db.get(User, session.user_id)
        if user is None or not user.active or user.role == "agent":
            return None
        return Viewer(Principal(user_id=user.id, email=user.email, name=user.name, role=user.role),
                      csrf=self.signer.csrf_token(session))

    def csrf_valid(self, request: Request, token: object) -> bool:
        session = self.signer.read(request.cookies.get(SESSION_COOKIE))
        return session is not None and self.signer.csrf_valid(session, str(token or ""))

    def login_csrf(self, nonce: str) -> str:
        """The sign-in form's token, bound to a nonce in a cookie (there is no session yet)."""
        return self.signer.csrf_token(Session(user_id=0, nonce=nonce, expires=0))

    def login_csrf_valid(self, nonce: str, token: object) -> bool:
        return self.signer.csrf_valid(Session(user_id=0, nonce=nonce, expires=0), str(token or ""))

    def route(self, path: str, handler: Handler, *, methods: tuple[str, ...] = ("GET",)) -> Route:
        """A page for signed-in people; anyone else is sent to sign in and brought back here after."""

        async def endpoint(request: Request) -> Response:
            refused = await self._guard.validate_request(request)
            if refused is not None:
                return refused
            viewer = await self.viewer(request)
            if viewer is None:
                back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{SIGN_IN}?next={quote(back, safe='')}", status_code=303)
            return await handler(request, viewer)

        return Route(path, endpoint, methods=list(methods))

    def public_route(self, path: str, handler: Callable[[Request], Awaitable[Response]], *,
                     methods: tuple[str, ...] = ("GET",)) -> Route:
        """A page anyone may open (sign-in): still only under an allowed Host and Origin."""

        async def endpoint(request: Request) -> Response:
            refused = await self._guard.validate_request(request)
            return refused if refused is not None else await handler(request)

        return Route(path, endpoint, methods=list(methods))


def local_path(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path on this site only (never `//evil.example` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
