"""The hostile-model suite's figures, gathered as its tests run and printed at the end of the test run."""

from __future__ import annotations

LINES: list[str] = []


def add(line: str) -> None:
    LINES.append(line)
