"""The health model as data: what `csdesk health model show` prints and the `health_model` tool answers."""

from __future__ import annotations

from typing import Any

from store.health.model import HealthModel, SegmentModel
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
