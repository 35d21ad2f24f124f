"""Percentiles of repeated calls; a few warm-up calls are made and not counted."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

WARMUP = 5
# Uncounted calls at the start of each block of measure_alternating.
BLOCK_WARMUP = 3
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


async def measure_alternating(calls: dict[str, Callable[[], Awaitable[object]]], count: int,
                              rounds: int = 4) -> dict[str, Timing]:
    """Time several callers answering the same question, in alternating blocks: this machine's speed
    drifts by a fifth over minutes, and timing one caller after the other would compare the moments,
    not the callers. Each block starts with calls that are not counted: a server that sat idle while the
    other answered is slower for its first few calls (seen: alternating every 6 calls made csdesk's 25-row
    list 0.2 ms slower, the peer's 0.1). Each caller gets `count` calls in all (fewer for a slow one)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    per_round = max(1, count // rounds)
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(BLOCK_WARMUP):
                await call()
            deadline = time.perf_counter() + BUDGET_SECONDS / rounds
            taken = 0
            while taken < per_round and (taken < 3 or time.perf_counter() < deadline):
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
                taken += 1
    return {name: summarise(values) for name, values in samples.items()}


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
