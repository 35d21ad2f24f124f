"""The retention view at / and the renewals list at /renewals: a CSM's book with health and revenue side
by side, filtered and sorted from the URL (so a view can be shared as a link)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.web.pages import Pages, Viewer
from server.web.query import QueryReader, pager
from store.crm.accounts import ACCOUNT_SORTS, CONFIDENCES, AccountFilters, retention_view
from store.crm.desk_facts import row_facts
from store.crm.renewals import RENEWAL_SORTS, renewal_totals, renewals_due
from store.database.models import User
from store.errors import CsdeskError
from store.vocabulary import HEALTH_STATUSES, OPEN_RENEWAL_STAGES, SEGMENTS

RENEWAL_WINDOWS = ("30", "60", "90", "120", "180", "365")
SORT_LABELS = {"arr_desc": "ARR, largest first", "arr_asc": "ARR, smallest first", "renewal_date": "renewal date",
               "health_score": "health score, worst first", "confidence": "confidence, least first", "name": "name"}


def owners(db: Connection) -> list[str]:
    """Whom a manager can filter the book by: every active person who owns accounts or could."""
    return list(db.execute(select(User.email).where(User.active, User.role.in_(("csm", "manager", "admin")))
                           .order_by(User.email)).scalars())


def desk_routes(pages: Pages) -> list[Route]:

    def owner_filter(reader: QueryReader, viewer: Viewer) -> str | None:
        """A CSM's own book unless they ask for another owner or everyone; everyone's for the rest."""
        chosen = reader.text("owner")
        if chosen in (None, ""):
            return "me" if viewer.principal.role == "csm" else None
        return None if chosen == "all" else chosen

    async def retention(request: Request, viewer: Viewer) -> Response:
        reader = QueryReader(request.query_params)
        filters = AccountFilters(
            owner=owner_filter(reader, viewer), health_statuses=reader.choices("status", HEALTH_STATUSES),
            confidences=reader.choices("confidence", CONFIDENCES), segment=reader.choice("segment", SEGMENTS),
            renewal_within_days=int(reader.choice("renews", RENEWAL_WINDOWS) or 0) or None,
            query=reader.text("q"), sort=reader.choice("sort", ACCOUNT_SORTS, "arr_desc") or "arr_desc")
        number, size = reader.page()
        if reader.problems:
            return pages.refused(viewer, reader.problems, what="This view's filters", title="Accounts")
        app = pages.app_of(request)
        today = app.clock.now().date()

        def read(db: Connection) -> dict[str, Any]:
            page = retention_view(db, principal=viewer.principal, filters=filters, today=today, limit=size,
                                  offset=(number - 1) * size)
            return {"page": page, "facts": row_facts(db, [row.id for row in page.items]), "owners": owners(db)}

        try:
            found = await app.units.run(read)
        except CsdeskError as exc:
            return pages.problem(viewer, str(exc), status=400, title="Accounts")
        return pages.render("desk.html", viewer=viewer, section="accounts", reader=reader, filters=filters,
                            pager=pager(reader, number=number, size=size, total=found["page"].total),
                            statuses=HEALTH_STATUSES, segments=SEGMENTS, confidences=CONFIDENCES,
                            windows=RENEWAL_WINDOWS, sorts=SORT_LABELS, today=today,
                            owner_choice=request.query_params.get("owner", ""), **found)

    async def renewals(request: Request, viewer: Viewer) -> Response:
        reader = QueryReader(request.query_params)
        question = {"owner": owner_filter(reader, viewer),
                    "within_days": reader.integer("days", 90, low=0, high=3660),
                    "stages": reader.choices("stage", OPEN_RENEWAL_STAGES),
                    "health_statuses": reader.choices("status", HEALTH_STATUSES),
                    "include_overdue": reader.choice("overdue", ("yes", "no"), "yes") == "yes"}
        sort = reader.choice("sort", RENEWAL_SORTS, "due_date") or "due_date"
        number, size = reader.page()
        if reader.problems:
            return pages.refused(viewer, reader.problems, what="This view's filters", title="Renewals")
        app = pages.app_of(request)
        today = app.clock.now().date()

        def read(db: Connection) -> dict[str, Any]:
            page = renewals_due(db, principal=viewer.principal, today=today, sort=sort, limit=size,
                                offset=(number - 1) * size, **question)
            return {"page": page, "totals": renewal_totals(db, principal=viewer.principal, today=today, **question),
                    "owners": owners(db)}

        try:
            found = await app.units.run(read)
        except CsdeskError as exc:
            return pages.problem(viewer, str(exc), status=400, title="Renewals")
        return pages.render("renewals.html", viewer=viewer, section="renewals", reader=reader, question=question,
                            sort=sort, pager=pager(reader, number=number, size=size, total=found["page"].total),
                            stages=OPEN_RENEWAL_STAGES, statuses=HEALTH_STATUSES, today=today,
                            owner_choice=request.query_params.get("owner", ""), **found)

    return [pages.route("/", retention), pages.route("/renewals", renewals)]
