"""Percentiles of repeated calls; a few warm-up calls are made and not counted."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

WARMUP = 5
# A slow call gets fewer repetitions: each measurement stops adding calls after this long.
BUDGET_SECONDS = 20.0


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p99_ms: float
    calls: int

    def __str__(self) -> str:
        return f"{self.p50_ms:7.2f} / {self.p99_ms:7.2f}"


async def measure(call: Callable[[], Awaitable[object]], calls: int) -> Timing:
    for _ in range(WARMUP):
        await call()
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_SECONDS
    while len(samples) < calls and (len(samples) < 10 or time.perf_counter() < deadline):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return summarise(samples)


def measure_sync(call: Callable[[], object], calls: int) -> Timing:
    for _ in range(WARMUP):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_SECONDS
    while len(samples) < calls and (len(samples) < 10 or time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return summarise(samples)


def summarise(samples: list[float]) -> Timing:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Timing(p50_ms=statistics.median(ordered), p99_ms=p99, calls=len(ordered))
