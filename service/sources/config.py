"""Source and capture settings: one strict model per source type, chosen by `type`.

Unknown keys are errors (a typo in a bed's config must not silently fall back to a default), and every
field carries a description so the config reference and JSON Schema explain themselves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.paths import ConfigPath


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoSourceConfig(_Strict):
    """A video file played as if it were a camera (demo beds, tests, replays)."""

    type: Literal["video"] = Field(description="Source kind: a video file decoded with OpenCV.")
    path: ConfigPath = Field(description="Video file to play (any container/codec OpenCV's FFmpeg backend reads).")
    loop: bool = Field(default=True, description="Start again from the first frame when the file ends.")
    realtime: bool = Field(
        default=True,
        description="Pace playback at the file's frame rate so the file behaves like a camera; "
        "false decodes as fast as the consumer reads (tests, offline analysis).",
    )


class CameraSourceConfig(_Strict):
    """A live camera through OpenCV: a local device index or a network stream URL."""

    type: Literal["camera"] = Field(description="Source kind: a camera or stream opened with OpenCV.")
    device: int | str = Field(description="Device index (0 = first camera) or an RTSP/HTTP stream URL.")
    width: int | None = Field(
        default=None, gt=0, description="Requested frame width in pixels (camera default if unset)."
    )
    height: int | None = Field(
        default=None, gt=0, description="Requested frame height in pixels (camera default if unset)."
    )
    fps: float | None = Field(default=None, gt=0, description="Requested frame rate (camera default if unset).")
    open_timeout_s: float = Field(
        default=10.0, gt=0, description="Give up opening a network stream after this long (backends that support it)."
    )
    read_timeout_s: float = Field(
        default=5.0, gt=0, description="Give up waiting for a network stream frame after this long (FFmpeg backend)."
    )


class RealSenseSourceConfig(_Strict):
    """An Intel RealSense camera, or a RealSense recording played back through the same pipeline code."""

    type: Literal["realsense"] = Field(description="Source kind: pyrealsense2 pipeline, colour stream.")
    serial: str | None = Field(
        default=None, description="Serial number of the camera to use; unset = the first camera found."
    )
    recording: ConfigPath | None = Field(
        default=None,
        description="A `.bag` or `.db3` recording to play back instead of a live camera (serial is then ignored); "
        "its own stream size and format are used.",
    )
    loop: bool = Field(default=True, description="Repeat a recording when it ends (ignored for a live camera).")
    width: int = Field(default=1280, gt=0, description="Colour stream width of a live camera (thesis setup: 1280).")
    height: int = Field(default=720, gt=0, description="Colour stream height of a live camera (thesis setup: 720).")
    fps: int = Field(default=30, gt=0, description="Colour stream frame rate of a live camera (thesis setup: 30).")

    @model_validator(mode="after")
    def _recording_is_a_realsense_file(self) -> RealSenseSourceConfig:
        if self.recording is not None and self.recording.suffix.lower() not in {".bag", ".db3"}:
            raise ValueError(f"recording must be a .bag or .db3 file, got {self.recording.name!r}")
        return self


SourceConfig = Annotated[
    VideoSourceConfig | CameraSourceConfig | RealSenseSourceConfig,
    Field(discriminator="type"),
]
"""Any source, chosen by its `type` key."""


class CaptureConfig(_Strict):
    """How a bed's capture thread detects a dead source and reopens it."""

    no_signal_after_s: float = Field(
        default=1.5,
        gt=0,
        description=(
            "Mark the bed `no_signal` when no valid frame arrived for this long. 1.5 s plus the 0.1 s watchdog "
            "tick keeps the promise that a stuck source shows as `no_signal` within 2 s."
        ),
    )
    read_timeout_s: float = Field(
        default=0.25,
        gt=0,
        description="Longest single wait for a frame; keeps the capture loop responsive to stop and to staleness.",
    )
    backoff_initial_s: float = Field(default=0.5, gt=0, description="Wait before the first reopen after a fault.")
    backoff_max_s: float = Field(default=30.0, gt=0, description="Longest wait between reopen attempts.")
    backoff_factor: float = Field(
        default=2.0, ge=1.0, description="Each consecutive fault multiplies the wait by this."
    )
    backoff_reset_after_s: float = Field(
        default=10.0,
        gt=0,
        description="After delivering frames this long without a fault, the next fault waits backoff_initial_s again.",
    )
    watchdog_interval_s: float = Field(
        default=0.1,
        gt=0,
        le=1.0,
        description="How often the watchdog checks for a stale source (also catches a read stuck in native code).",
    )

    @model_validator(mode="after")
    def _consistent_timings(self) -> CaptureConfig:
        if self.read_timeout_s >= self.no_signal_after_s:
            raise ValueError("read_timeout_s must be shorter than no_signal_after_s")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be shorter than backoff_initial_s")
        return self
