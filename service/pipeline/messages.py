"""What a bed publishes per analysed frame, and the all-beds summary: the WebSocket/REST wire format.

The JSON Schema of `BedFrameMessage` is committed as `docs/schemas/bed_frame.schema.json`; bump
`SCHEMA_VERSION` whenever a field changes meaning or disappears.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.aggregation import Scale
from service.alerts.models import Alert
from service.supervision import Condition

SCHEMA_VERSION: Final = 1


class BedState(StrEnum):
    OK = "ok"
    """A face was found and the model scored it: pain_probability is current."""
    NO_FACE = "no_face"
    """A frame arrived but no face was detected: pain is unknown (null), never 'no pain'."""
    NO_SIGNAL = "no_signal"
    """No usable frame from the source (unplugged, ended, hung, garbage): pain is unknown."""
    MODEL_ERROR = "model_error"
    """A face was found but the model gave no result: pain is unknown."""
    STARTING = "starting"
    """Nothing analysed yet."""
    STALE = "stale"
    """REST/summary only: the bed's last result is older than `stream.stale_after_s` (analysis stalled)."""
    NODE_DOWN = "node_down"
    """Summary only, ward of several nodes: the node owning the bed stopped its heartbeat; pain is unknown."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaceBoxOut(_Wire):
    x: int = Field(description="Left edge of the detected face, frame pixels.")
    y: int = Field(description="Top edge of the detected face, frame pixels.")
    w: int = Field(description="Face width in pixels.")
    h: int = Field(description="Face height in pixels.")


class ModelRef(_Wire):
    name: str = Field(description="Exported model name (model card).")
    version: str = Field(description="Exported model version (model card).")
    demo: bool = Field(description="True for a demonstration model (not for clinical use).")


class StageTimings(_Wire):
    capture_wait_ms: float = Field(description="Time the bed worker waited for the frame.")
    detect_ms: float = Field(description="Face detection.")
    crop_ms: float = Field(description="Face crop.")
    infer_ms: float = Field(description="From submitting the crop to the engine to its result (queueing + batch).")
    aggregate_ms: float = Field(description="Window and smoothing update.")
    encode_ms: float = Field(description="Grad-CAM overlay and JPEG encoding (0 when no image follows).")


class BedFrameMessage(_Wire):
    """One analysed frame of one bed. Probabilities are null whenever they are not known *now*."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Wire format version.")
    type: Literal["frame"] = Field(default="frame", description="Message kind.")
    bed_id: str = Field(description="Bed identifier from the configuration.")
    sequence: int = Field(description="Source frame sequence number (gaps = frames skipped to stay live).")
    capture_ts: float = Field(description="Capture time of the frame, Unix seconds.")
    published_ts: float = Field(description="Time the message was built, Unix seconds.")
    state: BedState = Field(description="ok | no_face | no_signal | model_error | starting | stale.")
    state_reason: str | None = Field(default=None, description="Why the state is not ok, in words.")
    face: FaceBoxOut | None = Field(default=None, description="The analysed face; null without a face.")
    detector_score: float | None = Field(default=None, ge=0, le=1, description="Detector confidence of the face.")
    pain_probability: float | None = Field(
        default=None, ge=0, le=1, description="Model pain probability for this frame; null unless state is ok."
    )
    smoothed_probability: float | None = Field(
        default=None, ge=0, le=1, description="Exponentially smoothed pain probability; null unless state is ok."
    )
    window_s: float = Field(description="Length of the observation window.")
    pain_fraction: float | None = Field(
        default=None, ge=0, le=1, description="Share of the window's face-visible time classed pain (time-weighted)."
    )
    estimated_score: int | None = Field(
        default=None, ge=0, le=4, description="Estimated facial item of the bed's scale from pain_fraction."
    )
    scale: Scale = Field(description="The bed's clinical scale (DAN newborns, FLACC 2-36 months).")
    face_visible_share: float = Field(ge=0, le=1, description="Share of the window with a visible, scored face.")
    low_evidence: bool = Field(description="True when face_visible_share is below the configured minimum.")
    model: ModelRef | None = Field(default=None, description="The model that produced pain_probability.")
    latency_ms: float = Field(description="Capture to message, milliseconds.")
    timings: StageTimings | None = Field(default=None, description="Per-stage processing times for this frame.")
    heatmap_follows: bool = Field(
        default=False,
        description="True when a binary WebSocket message follows: a JPEG of the pain-class Grad-CAM over the crop.",
    )


class BedSummary(_Wire):
    bed_id: str
    label: str
    scale: Scale
    state: BedState
    state_reason: str | None = None
    pain_probability: float | None = None
    smoothed_probability: float | None = None
    pain_fraction: float | None = None
    estimated_score: int | None = None
    face_visible_share: float = 0.0
    low_evidence: bool = True
    analysed_fps: float = 0.0
    last_update_ts: float | None = None
    active_alerts: list[Alert] = Field(default_factory=list, description="The bed's open and acknowledged alerts.")
    alerts_paused_until: float | None = Field(default=None, description="Alerts paused until (Unix s); null = live.")
    node_id: str | None = Field(default=None, description="The ward node owning the bed; null on a single node.")


class BedsSummaryMessage(_Wire):
    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["summary"] = "summary"
    ts: float
    beds: list[BedSummary]
    conditions: list[Condition] = Field(
        default_factory=list,
        description="The service's technical alarm conditions now: store_unavailable (actions are not being "
        "saved), component_down, analysis_stalled. Empty when all is well.",
    )
