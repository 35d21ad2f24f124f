"""An injectable clock, so tests and the demo can pin "today"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """A clock that always reads the same instant."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant


def today(clock: Clock) -> date:
    """The current UTC date on this clock."""
    return clock.now().date()
