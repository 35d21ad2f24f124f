"""A job the HTTP server runs beside its requests, every so many seconds, until it shuts down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


@contextlib.asynccontextmanager
async def repeating(job: Callable[[], Awaitable[None]], *, every: float, wait_first: bool = False
                    ) -> AsyncIterator[None]:
    """Run `job` every `every` seconds while the block runs (after a first wait when `wait_first`); on
    leaving, the run under way finishes and no other starts. `job` handles its own errors."""
    stop = asyncio.Event()

    async def loop() -> None:
        waited = not wait_first
        while not stop.is_set():
            if waited:
                await job()
            waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task
