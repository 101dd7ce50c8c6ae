"""Time-weighted observation window and smoothed probability for one bed.

Each analysed frame is an observation that holds from its capture time until the next one (at most
`max_hold_s`, so a frozen or missing source never stretches the last value). Fractions are ratios of time,
not of frame counts, so a bed whose analysis rate changes (load, a slow model) is not biased towards the
periods it happened to sample more often.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from service.aggregation.scales import Scale, ScaleRules, estimate_face_score


class ObservationKind(StrEnum):
    PAIN = "pain"
    NO_PAIN = "no_pain"
    NO_FACE = "no_face"
    UNKNOWN = "unknown"
    """No frame (no_signal) or no model result (model_error): nothing was seen."""


@dataclass(frozen=True)
class Observation:
    ts: float
    kind: ObservationKind


class AggregationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(default=30.0, gt=0.0, description="Length of the sliding observation window in seconds.")
    pain_threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="A frame is classed pain when its pain probability is at least this."
    )
    max_hold_s: float = Field(
        default=1.0,
        gt=0.0,
        description="Longest time one frame's class stands for; gaps beyond it count as not observed.",
    )
    smoothing_tau_s: float = Field(
        default=1.0,
        gt=0.0,
        description="Time constant of the exponential smoothing of the pain probability (frames with a face only).",
    )
    smoothing_reset_s: float = Field(
        default=5.0, gt=0.0, description="After this long without a face the smoothing restarts from the next frame."
    )
    min_face_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Below this share of the window with a visible face, the estimated score is marked low_evidence.",
    )
    rules: ScaleRules = Field(default_factory=ScaleRules, description="Scale rules mapping pain fraction to score.")


@dataclass(frozen=True)
class WindowSummary:
    window_s: float
    face_visible_s: float
    pain_s: float
    pain_fraction: float | None
    """Share of the face-visible time classed pain; None when no face was visible in the window."""
    face_visible_share: float
    """Share of the whole window with a visible face."""
    estimated_score: int | None
    low_evidence: bool


def summarise_window(
    observations: list[Observation], now: float, scale: Scale, params: AggregationParams
) -> WindowSummary:
    """Time-weighted pain fraction and face-visible share over [now - window_s, now], and the scale score."""
    start = now - params.window_s
    face_s = pain_s = 0.0
    for i, obs in enumerate(observations):
        next_ts = observations[i + 1].ts if i + 1 < len(observations) else now
        held_until = min(next_ts, obs.ts + params.max_hold_s, now)
        overlap = max(0.0, held_until - max(obs.ts, start))
        if obs.kind in (ObservationKind.PAIN, ObservationKind.NO_PAIN):
            face_s += overlap
            if obs.kind is ObservationKind.PAIN:
                pain_s += overlap
    fraction = pain_s / face_s if face_s > 0 else None
    share = min(1.0, face_s / params.window_s)
    return WindowSummary(
        window_s=params.window_s,
        face_visible_s=face_s,
        pain_s=pain_s,
        pain_fraction=fraction,
        face_visible_share=share,
        estimated_score=estimate_face_score(scale, fraction, params.rules),
        low_evidence=share < params.min_face_share,
    )


class BedAggregator:
    """Observations of one bed (pruned to the window) and its smoothed probability. Used by one thread."""

    def __init__(self, scale: Scale, params: AggregationParams) -> None:
        self.scale = scale
        self.params = params
        self._observations: deque[Observation] = deque()
        self._smoothed: float | None = None
        self._last_face_ts: float | None = None

    @property
    def smoothed(self) -> float | None:
        return self._smoothed

    def add_face(self, ts: float, pain_probability: float) -> float:
        """Record a frame with a face and its pain probability; returns the smoothed probability."""
        kind = ObservationKind.PAIN if pain_probability >= self.params.pain_threshold else ObservationKind.NO_PAIN
        self._append(Observation(ts, kind))
        return self._smooth(ts, pain_probability)

    def add_unknown(self, ts: float) -> None:
        """Nothing could be seen (no frame, or no model result): the previous class stops holding."""
        self._append(Observation(ts, ObservationKind.UNKNOWN))

    def add_no_face(self, ts: float) -> None:
        self._append(Observation(ts, ObservationKind.NO_FACE))

    def summary(self, now: float) -> WindowSummary:
        return summarise_window(list(self._observations), now, self.scale, self.params)

    def _append(self, obs: Observation) -> None:
        if self._observations and obs.ts < self._observations[-1].ts:
            obs = Observation(self._observations[-1].ts, obs.kind)  # clocks may step back; never reorder
        self._observations.append(obs)
        horizon = obs.ts - self.params.window_s - self.params.max_hold_s
        while len(self._observations) > 1 and self._observations[1].ts <= horizon:
            self._observations.popleft()

    def _smooth(self, ts: float, p: float) -> float:
        last = self._last_face_ts
        if self._smoothed is None or last is None or ts - last > self.params.smoothing_reset_s:
            self._smoothed = p
        else:
            alpha = 1.0 - math.exp(-max(0.0, ts - last) / self.params.smoothing_tau_s)
            self._smoothed = alpha * p + (1.0 - alpha) * self._smoothed
        self._last_face_ts = ts
        return self._smoothed
