"""The manager's dashboard at /portfolio: health now against a month ago, risk movers, the renewal
pipeline with ARR at risk, GRR / NRR / logo churn with their monthly trend, and churn by segment. Every
chart has its numbers beside it; the figures are portfolio_summary's (see the README's "Portfolio
figures")."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.web.charts import Chart, Series, column_chart, line_chart
from server.web.pages import Pages, Viewer
from server.web.query import QueryReader
from store.crm import portfolio_snapshots
from store.crm.portfolio_schemas import QuarterPipeline, RetentionFigures, StatusSlice
from store.errors import CsdeskError


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def health_chart(slices: list[StatusSlice]) -> Chart:
    return column_chart("Accounts by health status, now and 30 days ago",
                        [s.status.replace("_", " ") for s in slices],
                        [Series("now", "s-primary", [s.accounts for s in slices], [str(s.accounts) for s in slices]),
                         Series("30 days ago", "s-secondary", [s.accounts_month_ago for s in slices],
                                [str(s.accounts_month_ago) for s in slices])],
                        empty="No active accounts.")


def pipeline_chart(pipeline: list[QuarterPipeline], currency: str) -> Chart:
    return column_chart(f"Renewal pipeline by quarter ({currency})", [q.quarter for q in pipeline],
                        [Series("due (target)", "s-secondary", [float(q.due) for q in pipeline],
                                [_money(q.due) for q in pipeline]),
                         Series("forecast", "s-primary", [float(q.forecast) for q in pipeline],
                                [_money(q.forecast) for q in pipeline]),
                         Series("ARR at risk", "s-risk", [float(q.at_risk) for q in pipeline],
                                [_money(q.at_risk) for q in pipeline])],
                        empty="No open renewals in these quarters.")


def trend_chart(trend: list[RetentionFigures]) -> Chart:
    def pct(values: list[Decimal | None]) -> list[float | None]:
        return [float(v) if v is not None else None for v in values]

    return line_chart("NRR and GRR, twelve months to each month end (%)", [f.period_end for f in trend],
                      [Series("NRR", "s-primary", pct([f.nrr_pct for f in trend]),
                              [f"{f.nrr_pct} %" for f in trend]),
                       Series("GRR", "s-risk", pct([f.grr_pct for f in trend]), [f"{f.grr_pct} %" for f in trend])],
                      fmt="{:.0f} %", empty="No paying accounts in the last year.")


def churn_chart(by_segment: dict[str, RetentionFigures]) -> Chart:
    segments = list(by_segment)
    arr_churn = [_share(f.churned_arr, f.starting_arr) for f in by_segment.values()]
    return column_chart("Churn by segment, last twelve months (%)", segments,
                        [Series("logos churned", "s-secondary",
                                [float(f.logo_churn_pct or 0) for f in by_segment.values()],
                                [f"{f.logo_churn_pct or 0} %" for f in by_segment.values()]),
                         Series("ARR churned", "s-risk", arr_churn, [f"{v:.2f} %" for v in arr_churn])],
                        fmt="{:.1f} %", empty="No churn in the last twelve months.")


def _share(part: Decimal, whole: Decimal) -> float:
    return float(part / whole * 100) if whole else 0.0


def portfolio_routes(pages: Pages) -> list[Route]:

    async def portfolio(request: Request, viewer: Viewer) -> Response:
        if not viewer.is_manager:
            who = viewer.principal
            return pages.problem(viewer, f"The portfolio dashboard is for managers and admins; {who.email} is a "
                                         f"{who.role}. Your book is on the Accounts page.",
                                 status=403, title="Portfolio")
        reader = QueryReader(request.query_params)
        owner = reader.text("owner")
        currency = reader.text("currency", longest=3)
        if reader.problems:
            return pages.refused(viewer, reader.problems, what="This dashboard's filters", title="Portfolio")
        app = pages.app_of(request)
        try:
            found = await portfolio_snapshots.dashboard(app.units, principal=viewer.principal, now=app.clock.now(),
                                                        owner=owner, currency=currency)
        except CsdeskError as exc:
            return pages.problem(viewer, str(exc), status=400, title="Portfolio")
        summary = found.summary
        return pages.render("portfolio.html", viewer=viewer, section="portfolio", s=summary, owner=owner or "",
                            health=health_chart(summary.health),
                            pipeline=pipeline_chart(summary.pipeline, summary.currency),
                            trend_chart=trend_chart(found.trend), churn=churn_chart(found.by_segment),
                            trend=found.trend, by_segment=found.by_segment)

    return [pages.route("/portfolio", portfolio)]
