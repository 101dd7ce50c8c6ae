"""Per-bed aggregation: smoothed probability, time-weighted observation window, scale-rule facial score."""

from service.aggregation.scales import DanFaceRule, FlaccFaceRule, Scale, ScaleRules, estimate_face_score
from service.aggregation.window import (
    AggregationParams,
    BedAggregator,
    Observation,
    ObservationKind,
    WindowSummary,
    summarise_window,
)

__all__ = [
    "AggregationParams",
    "BedAggregator",
    "DanFaceRule",
    "FlaccFaceRule",
    "Observation",
    "ObservationKind",
    "Scale",
    "ScaleRules",
    "WindowSummary",
    "estimate_face_score",
    "summarise_window",
]
