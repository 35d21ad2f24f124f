"""Signing in to the web desk with an API token, and signing out."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.web.pages import SIGN_IN, Pages, Viewer, local_path
from server.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS
from store.auth.tokens import principal_for_token
from store.errors import CsdeskError


def signin_routes(pages: Pages) -> list[Route]:

    def form(request: Request, *, status: int = 200, flash: str | None = None, nonce: str | None = None) -> Response:
        # Double-submit: a random nonce in a cookie, and a form token derived from it.
        nonce = nonce or request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(16)
        response = pages.render("login.html", viewer=None, status=status, flash=flash, flash_error=bool(flash),
                                login_csrf=pages.login_csrf(nonce),
                                next_path=local_path(request.query_params.get("next")))
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict",
                            secure=pages.secure_cookies, path="/")
        return response

    async def login_form(request: Request) -> Response:
        return form(request)

    async def login(request: Request) -> Response:
        submitted = await request.form()
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not nonce or not pages.login_csrf_valid(nonce, submitted.get("csrf")):
            return form(request, status=403, flash="The sign-in form expired; please try again.")
        app = pages.app_of(request)
        try:
            async with app.write_sessions() as db, db.begin():
                principal = await principal_for_token(db, token=str(submitted.get("token", "")).strip(),
                                                      now=app.clock.now())
        except CsdeskError:
            return form(request, status=401, flash="That token is unknown or revoked.", nonce=nonce)
        if principal.role == "agent":
            return form(request, status=403, flash="The agent's own user cannot sign in.", nonce=nonce)
        response = RedirectResponse(local_path(str(submitted.get("next") or "")), status_code=303)
        response.set_cookie(SESSION_COOKIE, pages.signer.issue(principal.user_id), max_age=SESSION_SECONDS,
                            httponly=True, samesite="strict", secure=pages.secure_cookies, path="/")
        return response

    async def logout(request: Request, viewer: Viewer) -> Response:
        submitted = await request.form()
        if not pages.csrf_valid(request, submitted.get("csrf")):
            return RedirectResponse("/", status_code=303)
        response = RedirectResponse(SIGN_IN, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [
        pages.public_route(SIGN_IN, login_form),
        pages.public_route(SIGN_IN, login, methods=("POST",)),
        pages.public_route("/login", login_form),
        pages.public_route("/login", login, methods=("POST",)),
        pages.route("/logout", logout, methods=("POST",)),
        pages.route("/review/logout", logout, methods=("POST",)),
    ]
