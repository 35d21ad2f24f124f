"""`csdesk health model show|check`: the health model in force, and a model file checked before use."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from store.health.model import DIMENSIONS, HealthModel, SegmentModel
from store.vocabulary import SEGMENTS


def model_summary(model: HealthModel) -> dict[str, Any]:
    """The model as data: per signal its dimension, weight, scale and whether it is critical, per segment what
    differs from the shared model."""
    base = model.base

    def signal_view(segment_model: SegmentModel) -> dict[str, Any]:
        return {signal_id: {"dimension": spec.dimension, "weight": spec.weight, "critical": spec.critical,
                            "scale": [list(pair) for pair in spec.scale] if spec.scale else None,
                            "points": spec.points}
                for signal_id, spec in segment_model.signals.items()}

    shared = signal_view(base)
    segments = {}
    for segment in SEGMENTS:
        own = model.for_segment(segment)
        thresholds = {key: value for key, value in own.thresholds.model_dump().items()
                      if value != getattr(base.thresholds, key)}
        signals = {signal_id: view for signal_id, view in signal_view(own).items() if view != shared[signal_id]}
        if thresholds or signals:
            segments[segment] = {"thresholds": thresholds, "signals": signals}
    return {"id": model.id, "name": model.name, "version": model.version, "source": model.source,
            "missing_points": base.missing_points, "bands": base.bands.model_dump(),
            "confidence": base.confidence.model_dump(), "caps": base.caps.model_dump(),
            "thresholds": base.thresholds.model_dump(mode="json"), "signals": shared, "segments": segments}


def print_model(model: HealthModel, console: Console) -> None:
    summary = model_summary(model)
    console.print(f"Health model {summary['id']} (from {summary['source']})", highlight=False)
    total = sum(view["weight"] for view in summary["signals"].values())
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("signal", "dimension", "weight", "share", "critical", "points"):
        table.add_column(column, no_wrap=column != "points")
    order = sorted(summary["signals"].items(), key=lambda item: (DIMENSIONS.index(item[1]["dimension"]), item[0]))
    for signal_id, view in order:
        points = (" ".join(f"{x:g}→{p:g}" for x, p in view["scale"]) if view["scale"]
                  else " ".join(f"{k}→{v:g}" for k, v in view["points"].items()))
        table.add_row(signal_id, view["dimension"], f"{view['weight']:g}", f"{view['weight'] / total:.0%}",
                      "yes" if view["critical"] else "", points)
    console.print(table)
    console.print(f"Missing data counts as {summary['missing_points']:g} points; confidence high from "
                  f"{summary['confidence']['high']:.0%} coverage, medium from {summary['confidence']['medium']:.0%} "
                  f"(medium may claim at most {summary['confidence']['medium_ceiling']}, low "
                  f"{summary['confidence']['low_ceiling']}).", highlight=False)
    for segment, override in summary["segments"].items():
        changes = [f"{key} = {value}" for key, value in override["thresholds"].items()]
        changes += [f"{signal_id} changed" for signal_id in override["signals"]]
        console.print(f"Segment {segment}: {'; '.join(changes)}", highlight=False)
