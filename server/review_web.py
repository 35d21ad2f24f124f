"""The review page at /review: the draft queue, one draft, and approve / edit / reject, for signed-in
reviewers. Server-rendered with jinja2 (autoescaped: CRM text is shown, never run)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from prompts import render
from server.context import AppContext
from server.web_session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Session, SessionSigner
from store.auth.principals import Principal
from store.auth.tokens import principal_for_token
from store.crm import drafts
from store.crm.account_view import get_account_360
from store.database.models import User
from store.errors import CsdeskError
from store.schemas import DraftHighlight, DraftPage

EMPTY_QUEUE = DraftPage(items=[], total=0)
QUEUE_STATUSES = ("pending_review", "approved", "stale", "rejected", "sent", "cancelled")
_SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                     "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def review_routes(app_of: Any, signer: SessionSigner, *, secure_cookies: bool) -> list[Route]:
    """The page's routes; `app_of(request)` gives the AppContext opened by the server's lifespan."""

    def page(name: str, status: int = 200, **variables: Any) -> HTMLResponse:
        return HTMLResponse(render(f"web/{name}", **{"flash": None, "flash_error": False, "reviewer": None,
                                                     "csrf": "", **variables}),
                            status_code=status, headers=_SECURITY_HEADERS)

    async def signed_in(request: Request) -> tuple[Principal, Session] | None:
        session = signer.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        app: AppContext = app_of(request)
        async with app.read_sessions() as db:
            user = await db.get(User, session.user_id)
        if user is None or not user.active or user.role == "agent":
            return None
        return Principal(user_id=user.id, email=user.email, name=user.name, role=user.role), session

    async def login_form(request: Request) -> Response:
        # Double-submit: a random nonce in a cookie, and a form token derived from it.
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(16)
        response = page("login.html", csrf=signer.csrf_token(Session(user_id=0, nonce=nonce, expires=0)))
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure_cookies,
                            path="/")
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not nonce or not signer.csrf_valid(Session(user_id=0, nonce=nonce, expires=0), str(form.get("csrf"))):
            return page("login.html", status=403, flash="The sign-in form expired; please try again.",
                        flash_error=True)
        app: AppContext = app_of(request)
        try:
            async with app.write_sessions() as db, db.begin():
                principal = await principal_for_token(db, token=str(form.get("token", "")).strip(),
                                                      now=app.clock.now())
        except CsdeskError:
            return page("login.html", status=401, flash="That token is unknown or revoked.", flash_error=True,
                        csrf=str(form.get("csrf")))
        if principal.role == "agent":
            return page("login.html", status=403, flash="The agent's own user cannot sign in.", flash_error=True,
                        csrf=str(form.get("csrf")))
        response = RedirectResponse("/review", status_code=303)
        response.set_cookie(SESSION_COOKIE, signer.issue(principal.user_id), max_age=SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=secure_cookies, path="/")
        return response

    def not_a_reviewer(principal: Principal, session: Session) -> HTMLResponse:
        return page("queue.html", status=403, reviewer=principal, csrf=signer.csrf_token(session),
                    page=EMPTY_QUEUE, statuses=QUEUE_STATUSES, flash_error=True,
                    flash=f"{principal.email} is a {principal.role}; only reviewers, managers and admins review "
                          "drafts.")

    async def reviewer(request: Request) -> tuple[Principal, Session] | Response:
        """The signed-in reviewer, or the response to send instead (sign in, or not a reviewer)."""
        current = await signed_in(request)
        if current is None:
            return RedirectResponse("/review/login", status_code=303)
        principal, session = current
        if principal.role not in drafts.DECIDERS:
            return not_a_reviewer(principal, session)
        return current

    async def logout(request: Request) -> Response:
        current = await signed_in(request)
        form = await request.form()
        if current is not None and signer.csrf_valid(current[1], str(form.get("csrf"))):
            response = RedirectResponse("/review/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response
        return RedirectResponse("/review", status_code=303)

    async def queue(request: Request) -> Response:
        current = await reviewer(request)
        if isinstance(current, Response):
            return current
        principal, session = current
        status = request.query_params.get("status", "pending_review")
        app: AppContext = app_of(request)
        try:
            async with app.read_sessions() as db:
                result = await drafts.list_drafts(db, principal=principal, statuses=(status,), limit=200)
        except CsdeskError as exc:
            return page("queue.html", status=400, flash=str(exc), flash_error=True, reviewer=principal,
                        csrf=signer.csrf_token(session), page=EMPTY_QUEUE, statuses=QUEUE_STATUSES)
        return page("queue.html", reviewer=principal, csrf=signer.csrf_token(session), page=result,
                    statuses=QUEUE_STATUSES, flash=request.query_params.get("done"))

    async def show(request: Request) -> Response:
        current = await reviewer(request)
        if isinstance(current, Response):
            return current
        principal, session = current
        app: AppContext = app_of(request)
        try:
            async with app.read_sessions() as db:
                draft = await drafts.get_draft(db, draft_id=int(request.path_params["draft_id"]))
        except CsdeskError as exc:
            return page("queue.html", status=404, flash=str(exc), flash_error=True, reviewer=principal,
                        csrf=signer.csrf_token(session), page=EMPTY_QUEUE, statuses=QUEUE_STATUSES)
        error = request.query_params.get("error")
        return page("draft.html", reviewer=principal, csrf=signer.csrf_token(session), draft=draft,
                    subject_parts=marked(draft.subject, draft.highlights, "subject"),
                    body_parts=marked(draft.body, draft.highlights, "body"),
                    flash=error or request.query_params.get("done"), flash_error=bool(error))

    async def decide(request: Request) -> Response:
        current = await reviewer(request)
        if isinstance(current, Response):
            return current
        principal, session = current
        draft_id = int(request.path_params["draft_id"])
        form = await request.form()
        if not signer.csrf_valid(session, str(form.get("csrf"))):
            return RedirectResponse(f"/review/drafts/{draft_id}?error=" + quote("The form expired; try again."),
                                    status_code=303)
        action = str(form.get("action", ""))
        edits = {"subject": str(form.get("subject", "")), "body": str(form.get("body", ""))} \
            if action == "edit_and_approve" else {}
        app: AppContext = app_of(request)
        try:
            async with app.write_sessions() as db, db.begin():
                if action not in {"approve", "edit_and_approve", "reject"}:
                    raise CsdeskError(f"unknown action {action!r}")
                result = await drafts.review_draft(db, principal=principal, now=app.clock.now(), draft_id=draft_id,
                                                   decision=action, note=str(form.get("note") or "") or None,
                                                   expected_version=int(str(form.get("version") or 0)) or None,
                                                   **edits)  # type: ignore[arg-type]
        except (CsdeskError, ValueError) as exc:
            return RedirectResponse(f"/review/drafts/{draft_id}?error=" + quote(str(exc)[:300]), status_code=303)
        message = (f"Draft {draft_id} is stale ({result.stale_reason}) and was not approved."
                   if result.status == "stale" else f"Draft {draft_id} is now {result.status.replace('_', ' ')}.")
        return RedirectResponse(f"/review/drafts/{draft_id}?done=" + quote(message), status_code=303)

    async def account(request: Request) -> Response:
        current = await signed_in(request)
        if current is None:
            return RedirectResponse("/review/login", status_code=303)
        principal, session = current
        app: AppContext = app_of(request)
        try:
            async with app.read_sessions() as db:
                view = await get_account_360(db, account_id=int(request.path_params["account_id"]),
                                             now=app.clock.now())
        except CsdeskError as exc:
            return page("account.html", status=404, reviewer=principal, csrf=signer.csrf_token(session),
                        flash=str(exc), flash_error=True, brief=None, account_name="Not found")
        return page("account.html", reviewer=principal, csrf=signer.csrf_token(session),
                    account_name=view.account.name,
                    brief=render("account_brief.md.j2", a=view))

    return [
        Route("/accounts/{account_id:int}", account, methods=["GET"]),
        Route("/review", queue, methods=["GET"]),
        Route("/review/login", login_form, methods=["GET"]),
        Route("/review/login", login, methods=["POST"]),
        Route("/review/logout", logout, methods=["POST"]),
        Route("/review/drafts/{draft_id:int}", show, methods=["GET"]),
        Route("/review/drafts/{draft_id:int}", decide, methods=["POST"]),
    ]


def marked(text: str, highlights: list[DraftHighlight], where: str) -> list[tuple[str, DraftHighlight | None]]:
    """The text cut into plain runs and highlighted ones, for the page to mark (escaped as any text)."""
    parts: list[tuple[str, DraftHighlight | None]] = []
    position = 0
    for highlight in sorted((h for h in highlights if h.where == where), key=lambda h: h.start):
        if highlight.start < position:
            continue  # a commercial term over a figure: the first one found is marked
        parts.append((text[position:highlight.start], None))
        parts.append((text[highlight.start:highlight.end], highlight))
        position = highlight.end
    parts.append((text[position:], None))
    return [part for part in parts if part[0]]
