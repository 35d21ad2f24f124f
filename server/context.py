"""The AppContext that the server's lifespan yields and every tool receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.settings import Settings
from store.clock import Clock, FixedClock, SystemClock
from store.db import create_engine, session_factory
from store.migrate import upgrade


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    clock: Clock

    def acting_email(self) -> str | None:
        """The user a call acts as when the transport carries no identity of its own."""
        return self.settings.user


def clock_for(settings: Settings) -> Clock:
    if settings.today is None:
        return SystemClock()
    # A pinned day reads as noon UTC, so "today" is the same date in every time zone's view of it.
    return FixedClock(datetime.combine(settings.today, time(12, 0), tzinfo=UTC))


@asynccontextmanager
async def open_app(settings: Settings, *, migrate: bool = True, clock: Clock | None = None) -> AsyncIterator[AppContext]:
    """Connect to the database (migrating it to the newest schema) and hand out the app's pieces."""
    engine = create_engine(settings.resolved_database_url)
    try:
        if migrate:
            await upgrade(engine)
        yield AppContext(
            settings=settings,
            engine=engine,
            read_sessions=session_factory(engine),
            write_sessions=session_factory(engine, write=True),
            clock=clock or clock_for(settings),
        )
    finally:
        await engine.dispose()
