"""Charts as SVG drawn on the server: this module works out the geometry, `web/charts.html` draws it.

No script and no outside library: a chart is plain markup a test can read, it prints, and a page shows
the numbers beside every chart for anyone who cannot see it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 28, 12, 28  # room for the axes' labels


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Band:
    """A shaded stretch of the value axis: a health status's range of scores."""

    y: float
    height: float
    css: str
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(self.points))


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    bands: list[Band]
    lines: list[Line]
    columns: list[Column]
    legend: list[tuple[str, str]]  # (name, css)
    empty: str | None = None  # said instead of drawing when there is nothing to draw

    @property
    def plot_bottom(self) -> float:
        return self.height - BOTTOM


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    values: Sequence[float | None]
    shown: Sequence[str]  # how each value reads in a tooltip (e.g. "$48,000.00")


def _scale(low: float, high: float) -> tuple[float, float]:
    return (low, high) if high > low else (low - 1, high + 1)


def _y(value: float, low: float, high: float, height: int) -> float:
    span = high - low
    return TOP + (high - value) / span * (height - TOP - BOTTOM)


def nice_ceiling(value: float) -> float:
    """The axis's top: the value rounded up to 1, 2, 2.5 or 5 times a power of ten (so ticks read well)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def short_number(value: float) -> str:
    """1.2M, 800k, 45: an axis label that fits."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _ticks(low: float, high: float, height: int, *, count: int = 4, fmt: str | None = None) -> list[Tick]:
    step = (high - low) / count
    return [Tick(at=_y(low + step * i, low, high, height),
                 label=fmt.format(low + step * i) if fmt else short_number(low + step * i)) for i in range(count + 1)]


def line_chart(title: str, days: Sequence[date], series: Sequence[Series], *, low: float | None = None,
               high: float | None = None, bands: Sequence[tuple[float, float, str, str]] = (),
               fmt: str | None = None, empty: str = "Nothing to draw yet.") -> Chart:
    """Lines over time, x placed by date; `bands` are (from, to, css, label) stretches of the value axis."""
    values = [v for s in series for v in s.values if v is not None]
    if not days or not values:
        return Chart(title, WIDTH, HEIGHT, [], [], [], [], [], [], empty=empty)
    low, high = _scale(min(values) if low is None else low, max(values) if high is None else high)
    first, last = days[0].toordinal(), days[-1].toordinal()
    plot_width = WIDTH - LEFT - RIGHT

    def x(day: date) -> float:
        return LEFT + (plot_width / 2 if last == first else (day.toordinal() - first) / (last - first) * plot_width)

    lines = [Line(s.name, s.css, [Point(x(day), _y(value, low, high, HEIGHT), f"{day.isoformat()}: {shown}")
                                  for day, value, shown in zip(days, s.values, s.shown, strict=True)
                                  if value is not None])
             for s in series]
    drawn_bands = []
    for start, end, css, label in bands:
        top, bottom = _y(min(end, high), low, high, HEIGHT), _y(max(start, low), low, high, HEIGHT)
        if bottom > top:
            drawn_bands.append(Band(y=top, height=bottom - top, css=css, label=label))
    day_format = "%b %d" if last - first < 120 else "%b %Y"
    return Chart(title, WIDTH, HEIGHT, _ticks(low, high, HEIGHT, fmt=fmt),
                 [Tick(at=x(day), label=day.strftime(day_format)) for day in _spread(list(days), 6)],
                 drawn_bands, lines, [], [(s.name, s.css) for s in series])


def column_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, fmt: str | None = None,
                 empty: str = "Nothing to draw yet.") -> Chart:
    """Columns side by side for each category, one per series (now and a month ago, say), from zero."""
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not values or max(values) <= 0:
        return Chart(title, WIDTH, HEIGHT, [], [], [], [], [], [], empty=empty)
    high = nice_ceiling(max(values))
    slot = (WIDTH - LEFT - RIGHT) / len(categories)
    width = slot * 0.8 / len(series)
    columns = []
    for i, category in enumerate(categories):
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            top = _y(max(value, 0), 0, high, HEIGHT)
            columns.append(Column(x=LEFT + slot * i + slot * 0.1 + width * j, y=top, width=width,
                                  height=HEIGHT - BOTTOM - top, css=s.css,
                                  title=f"{category} · {s.name}: {s.shown[i]}"))
    return Chart(title, WIDTH, HEIGHT, _ticks(0, high, HEIGHT, fmt=fmt),
                 [Tick(at=LEFT + slot * (i + 0.5), label=category) for i, category in enumerate(categories)],
                 [], [], columns, [(s.name, s.css) for s in series])


def _spread(items: list[date], most: int) -> list[date]:
    """At most `most` items, evenly picked, keeping the first and the last."""
    if len(items) <= most:
        return items
    step = (len(items) - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]
