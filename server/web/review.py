"""The review queue at /review: drafted outreach paged and filtered, one draft, and approve / edit /
reject for reviewers. A CSM sees the drafts on their own accounts read-only, with their state; deciding
stays a reviewer's, checked again in store.crm.drafts whatever the page shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.web.pages import Pages, Viewer
from server.web.query import QueryReader, pager
from store.crm import drafts
from store.crm.desk_facts import row_facts
from store.errors import CsdeskError, NotFound
from store.schemas import DraftHighlight

QUEUE_STATUSES = ("pending_review", "approved", "stale", "rejected", "sent", "cancelled")
AGES = ("1", "3", "7", "14", "30")
WAITING = {"pending_review": "waiting for a reviewer", "approved": "approved, waiting to be sent",
           "stale": "stale: the account changed before it went out", "rejected": "rejected", "sent": "sent",
           "cancelled": "cancelled"}


def reviews(viewer: Viewer) -> bool:
    return viewer.principal.role in drafts.DECIDERS


def review_routes(pages: Pages) -> list[Route]:

    async def queue(request: Request, viewer: Viewer) -> Response:
        reader = QueryReader(request.query_params)
        status = reader.choice("status", QUEUE_STATUSES, "pending_review") or "pending_review"
        kinds = reader.choices("kind", drafts.DRAFT_KINDS)
        owner = reader.text("owner")
        account_id = reader.integer("account", None, low=1, high=2**31 - 1)
        older = reader.choice("older_than", AGES)
        number, size = reader.page()
        if not reviews(viewer):
            owner = "me"  # a CSM's view: the drafts on their own accounts
        if reader.problems:
            return pages.refused(viewer, reader.problems, what="This queue's filters", title="Review queue")
        app = pages.app_of(request)
        now = app.clock.now()
        try:
            async with app.read_sessions() as db:
                found = await drafts.list_drafts(
                    db, principal=viewer.principal, statuses=(status,), kinds=kinds, owner=owner or None,
                    account_id=account_id, limit=size, offset=(number - 1) * size,
                    created_before=now - timedelta(days=int(older)) if older else None)
            facts = await app.units.run(row_facts, [row.account_id for row in found.items])
        except CsdeskError as exc:
            return pages.problem(viewer, str(exc), status=400, title="Review queue")
        notice = None if reviews(viewer) else (
            f"You are signed in as a {viewer.principal.role}: these are the drafts on your accounts, shown read-only. "
            "Approving or rejecting a draft needs the reviewer, manager or admin role.")
        return pages.render("queue.html", viewer=viewer, section="review", page=found, facts=facts, reader=reader,
                            queue_status=status, statuses=QUEUE_STATUSES, kinds=drafts.DRAFT_KINDS, chosen_kinds=kinds,
                            ages=AGES, older=older, owner=owner or "", account_id=account_id, reviews=reviews(viewer),
                            waiting=WAITING, now=now, pager=pager(reader, number=number, size=size, total=found.total),
                            flash=request.query_params.get("done") or notice)

    async def show(request: Request, viewer: Viewer) -> Response:
        app = pages.app_of(request)
        try:
            async with app.read_sessions() as db:
                draft = await drafts.get_draft(db, draft_id=int(request.path_params["draft_id"]))
        except NotFound as exc:
            return pages.problem(viewer, str(exc), status=404, title="Review queue")
        if not reviews(viewer) and draft.owner != viewer.principal.email:
            return pages.problem(viewer, f"Draft {draft.id} is on {draft.account_name}, an account {draft.owner} owns; "
                                         "a CSM sees the drafts on their own accounts.", status=403,
                                 title="Review queue")
        error = request.query_params.get("error")
        notice = None if reviews(viewer) else (
            f"Read-only: this draft is {WAITING.get(draft.status, draft.status)}. Approving or rejecting it needs "
            "the reviewer, manager or admin role.")
        return pages.render("draft.html", viewer=viewer, section="review", draft=draft, reviews=reviews(viewer),
                            waiting=WAITING, subject_parts=marked(draft.subject, draft.highlights, "subject"),
                            body_parts=marked(draft.body, draft.highlights, "body"),
                            flash=error or request.query_params.get("done") or notice, flash_error=bool(error))

    async def decide(request: Request, viewer: Viewer) -> Response:
        draft_id = int(request.path_params["draft_id"])
        form = await request.form()
        back = f"/review/drafts/{draft_id}"
        if not pages.csrf_valid(request, form.get("csrf")):
            return RedirectResponse(f"{back}?error=" + quote("The form expired; try again."), status_code=303)
        action = str(form.get("action", ""))
        edits: dict[str, Any] = {"subject": str(form.get("subject", "")), "body": str(form.get("body", ""))} \
            if action == "edit_and_approve" else {}
        app = pages.app_of(request)
        try:
            if action not in {"approve", "edit_and_approve", "reject"}:
                raise CsdeskError(f"unknown action {action!r}; approve, edit_and_approve or reject")
            async with app.write_sessions() as db, db.begin():
                result = await drafts.review_draft(db, principal=viewer.principal, now=app.clock.now(),
                                                   draft_id=draft_id, decision=action,  # type: ignore[arg-type]
                                                   note=str(form.get("note") or "") or None,
                                                   expected_version=int(str(form.get("version") or 0)) or None,
                                                   **edits)
        except (CsdeskError, ValueError) as exc:
            return RedirectResponse(f"{back}?error=" + quote(str(exc)[:300]), status_code=303)
        message = (f"Draft {draft_id} is stale ({result.stale_reason}) and was not approved."
                   if result.status == "stale" else f"Draft {draft_id} is now {result.status.replace('_', ' ')}.")
        return RedirectResponse(f"{back}?done=" + quote(message), status_code=303)

    return [
        pages.route("/review", queue),
        pages.route("/review/drafts/{draft_id:int}", show),
        pages.route("/review/drafts/{draft_id:int}", decide, methods=("POST",)),
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
