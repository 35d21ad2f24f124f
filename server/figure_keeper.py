"""Beside the HTTP server: the whole portfolio's stored figures kept current (store.crm.portfolio_snapshots),
so that the dashboard a manager opens after a CSM's write is read from storage rather than computed
in the request (3 s at 100,000 accounts). Every minute the stored figures are checked — a few
milliseconds while they hold — and computed again only when a write has moved them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from server.background import repeating
from server.context import AppContext
from store.crm import portfolio_snapshots

logger = logging.getLogger(__name__)
FIGURES_EVERY_SECONDS = 60.0


@contextlib.asynccontextmanager
async def keeping_figures(app: AppContext, *, every: float = FIGURES_EVERY_SECONDS) -> AsyncIterator[None]:
    """Keep the stored figures current every `every` seconds while the block runs."""

    async def keep() -> None:
        try:
            await portfolio_snapshots.refresh(app.units, now=app.clock.now())
        except Exception:  # the dashboard then computes its figures itself, as it would without this
            logger.exception("could not bring the stored portfolio figures up to date; trying again in %s s", every)

    async with repeating(keep, every=every, wait_first=True):
        yield
