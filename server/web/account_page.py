"""The account page at /accounts/<id>: the account 360 as a page, with its health and usage drawn over
time and its open drafts linked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.web.charts import Chart, Series, column_chart, line_chart
from server.web.pages import Pages, Viewer
from store.crm.account_view import account_360
from store.crm.desk_facts import AccountTrends, account_trends
from store.crm.drafts import draft_rows
from store.errors import CsdeskError, NotFound
from store.health.model import HealthModel


def health_chart(trends: AccountTrends, model: HealthModel) -> Chart:
    """The score over time on the model's status bands (the shipped bands, as the status is graded)."""
    floors = [*model.bands.floors()]
    bands = [(floor, ceiling, status, f"{status.replace('_', ' ')}: {floor:.0f}–{ceiling:.0f}")
             for (floor, status), ceiling in zip(floors, [100.0, *(f for f, _ in floors[:-1])], strict=True)]
    points = trends.health
    return line_chart("Health score over time", [p.at for p in points],
                      [Series("score", "s-primary", [p.score for p in points],
                              [f"{p.score:.0f} ({p.status.replace('_', ' ')})" for p in points])],
                      low=0, high=100, bands=bands, empty="Not assessed yet: no health history to draw.")


def usage_chart(trends: AccountTrends) -> Chart:
    usage = trends.usage
    return column_chart("Active users by month", [u.period_start.strftime("%b %y") for u in usage],
                        [Series("active users", "s-primary", [u.active_users for u in usage],
                                [str(u.active_users) for u in usage])],
                        empty="No product usage on record: connect the event feed or import usage.")


def account_routes(pages: Pages) -> list[Route]:

    async def account(request: Request, viewer: Viewer) -> Response:
        account_id = int(request.path_params["account_id"])
        app = pages.app_of(request)
        now = app.clock.now()

        def read(db: Connection) -> dict[str, Any]:
            return {"a": account_360(db, account_id=account_id, now=now), "trends": account_trends(db, account_id),
                    "drafts": draft_rows(db, account_id=account_id, statuses=("pending_review", "approved"))}

        try:
            found = await app.units.run(read)
        except NotFound as exc:
            return pages.problem(viewer, str(exc), status=404, title="Not found")
        except CsdeskError as exc:
            return pages.problem(viewer, str(exc), status=400, title="Not shown")
        trends: AccountTrends = found["trends"]
        model = app.health_models.current().for_segment(found["a"].account.segment)
        return pages.render("account.html", viewer=viewer, section="accounts", today=now.date(),
                            health=health_chart(trends, model), usage_chart=usage_chart(trends), **found)

    return [pages.route("/accounts/{account_id:int}", account)]
