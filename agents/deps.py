"""What every agent runs with: the database's sessions, the clock, the model (or none) and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.llm import StructuredModel
from store.clock import Clock, SystemClock
from store.database.one_hop import OneHopUnits
from store.health.model import HealthModel, default_model
from store.runs.agent_runs import DEFAULT_LEASE


@dataclass(frozen=True)
class AgentDeps:
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    # The same database's units of work (store.database.one_hop), for the store's functions that take them.
    units: OneHopUnits
    clock: Clock
    model: StructuredModel | None = None
    health_model: HealthModel = field(default_factory=default_model)
    segment_instructions: dict[str, str] = field(default_factory=dict)
    concurrency: int = 8
    # A run that renews no heartbeat for this long is taken for dead (see store.runs.agent_runs).
    run_lease: timedelta = DEFAULT_LEASE
    # The sender's own domains: addresses and links at them may appear in a drafted message.
    sender_domains: tuple[str, ...] = ()
    # Real time for heartbeats, even when `clock` is pinned for a demo.
    wall_clock: Clock = field(default_factory=SystemClock)

    @property
    def method(self) -> str:
        """How assessments are made, naming the health model: a new model re-assesses every account once."""
        return f"llm:{self.model.name}/{self.health_model.id}" if self.model else self.rules_method

    @property
    def rules_method(self) -> str:
        return f"rules/{self.health_model.id}"
