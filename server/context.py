"""The AppContext that the server's lifespan yields and every tool receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents.deps import AgentDeps
from agents.llm import ModelSettings, OpenAICompatibleModel, StructuredModel
from server.settings import Settings
from store.clock import Clock, FixedClock, SystemClock
from store.database.engine import create_engine, session_factory
from store.database.migrate import upgrade
from store.database.one_hop import OneHopUnits
from store.health.model_source import HealthModelSource


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    units: OneHopUnits
    model: StructuredModel | None = None
    health_models: HealthModelSource = field(default_factory=lambda: HealthModelSource(None))

    def acting_email(self) -> str | None:
        """The user a call acts as when the transport carries no identity of its own."""
        return self.settings.user

    def public_base_url(self) -> str | None:
        """Where people open pages of this server (links in search results), when it is known: a server over
        stdio, or over HTTP at an address nobody named, has no page a link could promise."""
        return self.settings.public_url.rstrip("/") if self.settings.public_url else None

    def agent_deps(self) -> AgentDeps:
        return AgentDeps(read_sessions=self.read_sessions, write_sessions=self.write_sessions, units=self.units,
                         clock=self.clock,
                         model=self.model, health_model=self.health_models.current(),
                         segment_instructions=self.settings.segment_instructions,
                         concurrency=self.settings.assessment_concurrency,
                         sender_domains=tuple(self.settings.sender_domains),
                         run_lease=timedelta(seconds=self.settings.run_lease_seconds))


def model_for(settings: Settings) -> OpenAICompatibleModel | None:
    """The configured model client, or None: without one, assessments come from the rules engine alone."""
    if not settings.llm_model:
        return None
    return OpenAICompatibleModel(ModelSettings(
        base_url=settings.llm_base_url or "https://api.openai.com/v1", model=settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
        timeout_seconds=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries))


def clock_for(settings: Settings) -> Clock:
    if settings.today is None:
        return SystemClock()
    # A pinned day reads as noon UTC, so "today" is the same date in every time zone's view of it.
    return FixedClock(datetime.combine(settings.today, time(12, 0), tzinfo=UTC))


@asynccontextmanager
async def open_app(settings: Settings, *, migrate: bool = True, clock: Clock | None = None,
                   model: StructuredModel | None = None) -> AsyncIterator[AppContext]:
    """Connect to the database (migrating it to the newest schema) and hand out the app's pieces."""
    # First, so an invalid model file stops the start before anything connects.
    health_models = HealthModelSource(settings.health_model)
    engine = create_engine(settings.resolved_database_url)
    owned_model = model_for(settings) if model is None else None
    try:
        if migrate:
            await upgrade(engine)
        read_sessions = session_factory(engine)
        write_sessions = session_factory(engine, write=True)
        units = OneHopUnits(engine, read_sessions, write_sessions, enabled=settings.one_hop_units)
        try:
            yield AppContext(
                settings=settings,
                engine=engine,
                read_sessions=read_sessions,
                write_sessions=write_sessions,
                clock=clock or clock_for(settings),
                units=units,
                model=model or owned_model,
                health_models=health_models,
            )
        finally:
            units.close()
    finally:
        if owned_model is not None:
            await owned_model.close()
        await engine.dispose()
