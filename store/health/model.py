"""The health model: which signals count, in which dimension, with what weight and along what scale, with
the thresholds that grade them, per segment where a segment says otherwise.

The shipped model is `default_model.toml`; a team's file is laid over it and names only what it changes.
A file that does not make a valid model is refused with every problem, each at its line.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from bisect import bisect_right
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.errors import InvalidInput
from store.health.thresholds import HealthThresholds
from store.health.toml_lines import line_of
from store.vocabulary import HEALTH_STATUSES, SEGMENTS, HealthStatus

Dimension = Literal["usage", "experience", "relationship", "commercial"]
DIMENSIONS: tuple[str, ...] = ("usage", "relationship", "commercial", "experience")

# The signals csdesk computes (store.health.signals). A scaled signal's value is a number; the others
# name a category, and their points table must give every category (for renewal timing, its grade).
SCALED_SIGNALS: tuple[str, ...] = (
    "usage.trend_vs_90d", "usage.month_over_month", "usage.seat_utilisation", "usage.adoption_breadth",
    "survey.nps", "survey.csat", "support.ticket_csat", "support.volume", "support.escalations",
    "support.overdue_tickets", "contact.days_since_outbound", "contact.days_since_meeting",
    "contact.multithreading", "contact.outreach_response", "renewal.forecast_vs_target")
CATEGORY_SIGNALS: dict[str, tuple[str, ...]] = {
    "sponsor.primary": ("present", "executive_only", "none", "left"),
    "renewal.days_to_renewal": ("good", "fair", "poor"),
    "onboarding.first_value": ("completed", "in_progress", "not_started", "late", "stalled"),
    "plan.progress": ("achieved", "on_track", "behind", "at_risk", "none"),
}
SIGNAL_IDS: tuple[str, ...] = (*SCALED_SIGNALS, *CATEGORY_SIGNALS)
SHIPPED = "default_model.toml"


class ModelFileError(InvalidInput):
    """A model file that does not make a valid model; `problems` holds each, with its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source} is not a valid health model ({len(problems)} problem"
                         f"{'s' if len(problems) > 1 else ''}):\n" + "\n".join(f"  {p}" for p in problems))


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalSpec(_Part):
    dimension: Dimension
    weight: float = Field(ge=0, le=100)
    critical: bool = False
    # (value, points) pairs, values rising: points along straight lines between them, flat beyond the ends.
    scale: tuple[tuple[float, float], ...] | None = None
    # Points per category, for signals whose value is a word.
    points: dict[str, float] | None = None
    action: str = Field(min_length=1, max_length=300)

    @model_validator(mode="after")
    def _one_way_to_points(self) -> SignalSpec:
        if (self.scale is None) == (self.points is None):
            raise ValueError("give either scale = [[value, points], ...] or points = { category = points }")
        if self.scale is not None:
            if len(self.scale) < 2:
                raise ValueError("a scale needs at least two [value, points] pairs")
            values = [value for value, _ in self.scale]
            if any(later <= earlier for earlier, later in zip(values, values[1:], strict=False)):
                raise ValueError(f"a scale's values must rise: {values}")
        given = [p for _, p in self.scale] if self.scale is not None else list((self.points or {}).values())
        if any(not 0 <= p <= 100 for p in given):
            raise ValueError(f"points run from 0 to 100: {given}")
        return self

    def points_for(self, key: float | str) -> float:
        """The points a value (or category) earns."""
        if self.points is not None:
            return self.points[str(key)]
        assert self.scale is not None
        value, xs = float(key), [x for x, _ in self.scale]
        if value <= xs[0]:
            return self.scale[0][1]
        if value >= xs[-1]:
            return self.scale[-1][1]
        i = bisect_right(xs, value)
        (x0, p0), (x1, p1) = self.scale[i - 1], self.scale[i]
        return p0 + (p1 - p0) * (value - x0) / (x1 - x0)


class Bands(_Part):
    strongly_thriving: float = Field(gt=0, le=100)
    actively_engaged: float = Field(gt=0, le=100)
    neutral: float = Field(gt=0, le=100)
    needs_attention: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _falling(self) -> Bands:
        floors = [self.strongly_thriving, self.actively_engaged, self.neutral, self.needs_attention]
        if any(lower >= higher for higher, lower in zip(floors, floors[1:], strict=False)):
            raise ValueError(f"band floors must fall from strongly_thriving to needs_attention: {floors}")
        return self

    def floors(self) -> tuple[tuple[float, str], ...]:
        return ((self.strongly_thriving, "strongly_thriving"), (self.actively_engaged, "actively_engaged"),
                (self.neutral, "neutral"), (self.needs_attention, "needs_attention"), (0.0, "at_risk"))


class DimensionGrades(_Part):
    good: float = Field(gt=0, le=100)
    fair: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> DimensionGrades:
        if self.fair >= self.good:
            raise ValueError("fair must be below good")
        return self


class Confidence(_Part):
    high: float = Field(gt=0, le=1)
    medium: float = Field(gt=0, le=1)
    medium_ceiling: HealthStatus
    low_ceiling: HealthStatus

    @model_validator(mode="after")
    def _ordered(self) -> Confidence:
        if self.medium >= self.high:
            raise ValueError("medium coverage must be below high")
        if HEALTH_STATUSES.index(self.low_ceiling) < HEALTH_STATUSES.index(self.medium_ceiling):
            raise ValueError("low confidence may not claim a healthier status than medium")
        return self


class Caps(_Part):
    one_critical: HealthStatus
    two_critical: HealthStatus

    @model_validator(mode="after")
    def _ordered(self) -> Caps:
        if HEALTH_STATUSES.index(self.two_critical) < HEALTH_STATUSES.index(self.one_critical):
            raise ValueError("two_critical may not be a healthier status than one_critical")
        return self


class _Thresholds(HealthThresholds):
    @model_validator(mode="after")
    def _consistent(self) -> _Thresholds:
        pairs = [("outbound_warn_days", "outbound_critical_days"), ("meeting_warn_days", "meeting_critical_days"),
                 ("usage_warn_drop", "usage_critical_drop"), ("seat_poor_below", "seat_good_from"),
                 ("nps_detractor_max", "nps_promoter_min"), ("csat_poor_below", "csat_good_from"),
                 ("support_volume_warn", "support_volume_critical")]
        wrong = [f"{low} ({getattr(self, low)}) must be below {high} ({getattr(self, high)})"
                 for low, high in pairs if getattr(self, low) >= getattr(self, high)]
        far, mid, near = self.renewal_windows_days
        if not far > mid > near > 0:
            wrong.append(f"renewal_windows_days must fall, far to near: {list(self.renewal_windows_days)}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return self


class SegmentModel(_Part):
    """The model as it applies to one segment's accounts."""

    model_id: str
    segment: str
    missing_points: float = Field(ge=0, le=100)
    bands: Bands
    dimension_grades: DimensionGrades
    confidence: Confidence
    caps: Caps
    thresholds: _Thresholds
    signals: dict[str, SignalSpec]

    @model_validator(mode="after")
    def _signals_known(self) -> SegmentModel:
        problems = []
        for signal_id, spec in self.signals.items():
            if signal_id in CATEGORY_SIGNALS and spec.points is None:
                categories = ", ".join(CATEGORY_SIGNALS[signal_id])
                problems.append(f"{signal_id} names a category: give points for {categories}")
            elif signal_id in CATEGORY_SIGNALS and set(spec.points or {}) != set(CATEGORY_SIGNALS[signal_id]):
                problems.append(f"{signal_id} needs points for exactly {', '.join(CATEGORY_SIGNALS[signal_id])}")
            elif signal_id in SCALED_SIGNALS and spec.scale is None:
                problems.append(f"{signal_id} is a number: give scale = [[value, points], ...]")
        missing = [signal_id for signal_id in SIGNAL_IDS if signal_id not in self.signals]
        if missing:
            problems.append(f"no section for {', '.join(missing)}")
        if sum(spec.weight for spec in self.signals.values()) <= 0:
            problems.append("every weight is 0: at least one signal must count")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def band_for(self, score: float) -> str:
        return next(status for floor, status in self.bands.floors() if score >= floor)

    def critical(self) -> frozenset[str]:
        return frozenset(signal_id for signal_id, spec in self.signals.items() if spec.critical)


class HealthModel:
    """A validated model: its id (name, version and a digest of its content) and one SegmentModel per segment."""

    def __init__(self, *, name: str, version: int, source: str, content: dict[str, Any], base: SegmentModel,
                 segments: dict[str, SegmentModel]) -> None:
        self.name, self.version, self.source, self.content = name, version, source, content
        # The model without any segment's overrides: what applies where no segment is in question.
        self.base = base
        self._segments = segments

    @property
    def id(self) -> str:
        return self.base.model_id

    def for_segment(self, segment: str) -> SegmentModel:
        return self._segments.get(segment) or self._segments[SEGMENTS[0]]


def shipped_text() -> str:
    return resources.files("store.health").joinpath(SHIPPED).read_text(encoding="utf-8")


def default_model() -> HealthModel:
    """The shipped model."""
    return _build(None, None)


def load_model(path: Path | str | None) -> HealthModel:
    """The shipped model with the file at `path` laid over it (the shipped model alone for None).

    Raises:
        ModelFileError: the file is unreadable, not TOML, or does not make a valid model.
    """
    if path is None:
        return default_model()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(str(path), [f"cannot read it: {exc}"]) from exc
    return _build(text, path.name)


def parse_model_text(text: str, source: str) -> HealthModel:
    """A model from a file's text (see load_model)."""
    return _build(text, source)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelFileError(source, [f"{source}: not valid TOML: {exc}"]) from exc


def laid_over(model: HealthModel, text: str, source: str) -> HealthModel:
    """A model file's text laid over an existing model (rather than over the shipped one)."""
    return _build(text, source, under=model.content)


def _build(text: str | None, source: str | None, *, under: dict[str, Any] | None = None) -> HealthModel:
    shipped = under if under is not None else _parse(shipped_text(), SHIPPED)
    team = _parse(text, source or "") if text is not None else {}
    merged = _merge(shipped, team)
    where = source or SHIPPED
    lines = text if text is not None else shipped_text()
    problems = _top_level_problems(merged, team, where, lines)
    problems += _unknown_signals(merged, where, lines)
    overrides = merged.get("segments", {}) if isinstance(merged.get("segments", {}), dict) else {}
    base = {key: value for key, value in merged.items() if key not in ("name", "version", "segments")}
    digest = hashlib.sha256(json.dumps(merged, sort_keys=True, default=str).encode()).hexdigest()[:8]
    name, version = str(merged.get("name", "model")), merged.get("version", 0)
    model_id = f"{name}.v{version}.{digest}"
    # The model without any segment's overrides first: its problems are reported once, not once per segment.
    shared: SegmentModel | None = None
    try:
        shared = SegmentModel(model_id=model_id, segment="*", **base)
    except ValidationError as exc:
        problems += _located(exc, {}, "*", where, lines)
    except TypeError as exc:
        problems.append(f"{where}: {exc}")
    segments: dict[str, SegmentModel] = {}
    broken = bool(problems)
    for segment in SEGMENTS:
        override = overrides.get(segment, {})
        values = _merge(base, {k: v for k, v in override.items() if k in ("thresholds", "signals")})
        try:
            segments[segment] = SegmentModel(model_id=model_id, segment=segment, **values)
        except (ValidationError, TypeError) as exc:
            found = _located(exc, override, segment, where, lines) if isinstance(exc, ValidationError) else []
            # With the shared part broken, a segment repeating the shared problem is no news.
            shared_reasons = {p.split(": ", 2)[-1] for p in problems}
            problems += [p for p in found if not broken or p.split(": ", 2)[-1] not in shared_reasons]
    if problems or shared is None:
        raise ModelFileError(where, list(dict.fromkeys(problems)))
    return HealthModel(name=name, version=int(version), source=where, content=merged, base=shared,
                       segments=segments)


def _unknown_signals(merged: dict[str, Any], where: str, text: str) -> list[str]:
    """Sections for signals csdesk does not compute (each dropped, so it is reported once)."""
    tables = [(("signals",), merged.get("signals"))]
    for segment, override in (merged.get("segments") or {}).items():
        if isinstance(override, dict):
            tables.append((("segments", segment, "signals"), override.get("signals")))
    problems = []
    for prefix, table in tables:
        if not isinstance(table, dict):
            continue
        for signal_id in [key for key in table if key not in SIGNAL_IDS]:
            del table[signal_id]
            problems.append(f"{where}:{line_of(text, (*prefix, signal_id))}: unknown signal {signal_id!r}; the "
                            f"signals are {', '.join(SIGNAL_IDS)}")
    return problems


def _top_level_problems(merged: dict[str, Any], team: dict[str, Any], where: str, text: str) -> list[str]:
    problems = []
    known = {"name", "version", "missing_points", "bands", "dimension_grades", "confidence", "caps", "thresholds",
             "signals", "segments"}
    for key in team:
        if key not in known:
            problems.append(f"{where}:{line_of(text, (key,))}: unknown section {key!r}; a model has "
                            f"{', '.join(sorted(known))}")
    if not isinstance(merged.get("name"), str) or not merged["name"].strip():
        problems.append(f"{where}:{line_of(text, ('name',))}: name must be a non-empty string")
    if not isinstance(merged.get("version"), int) or isinstance(merged.get("version"), bool):
        problems.append(f"{where}:{line_of(text, ('version',))}: version must be a whole number")
    segments = merged.get("segments", {})
    if not isinstance(segments, dict):
        problems.append(f"{where}:{line_of(text, ('segments',))}: segments must be tables [segments.<name>]")
        return problems
    for segment, override in segments.items():
        if segment not in SEGMENTS:
            problems.append(f"{where}:{line_of(text, ('segments', segment))}: unknown segment {segment!r}; "
                            f"segments are {', '.join(SEGMENTS)}")
        elif not isinstance(override, dict) or set(override) - {"thresholds", "signals"}:
            problems.append(f"{where}:{line_of(text, ('segments', segment))}: a segment may override thresholds "
                            "and signals only")
    return problems


def _located(exc: ValidationError, override: dict[str, Any], segment: str, where: str, text: str) -> list[str]:
    """Each validation error as `file:line: key: reason`, at the line that set the value."""
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        # A segment's problem is at the segment's own key when it sets one, else at the shared key.
        path = (("segments", segment, *loc) if _has_path(override, loc[:2]) else
                ("segments", segment, *loc[:1]) if _has_path(override, loc[:1]) and len(loc) == 1 else loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        # A problem across a table's keys (warn below critical) is at the first key it names that the file sets.
        named = [word for word in re.findall(r"[a-z_]+", message)
                 if line_of(text, (*path, word)) != line_of(text, path)]
        line = line_of(text, (*path, named[0])) if named else line_of(text, path)
        problems.append(f"{where}:{line}: {'.'.join(path) or 'model'}: {message}")
    return problems


def _has_path(data: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return bool(path)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: tables merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
