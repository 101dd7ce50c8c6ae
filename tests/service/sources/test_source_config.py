"""Source and capture configs: strict, discriminated by `type`, errors name the key path."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.sources.config import (
    CameraSourceConfig,
    CaptureConfig,
    RealSenseSourceConfig,
    SourceConfig,
    VideoSourceConfig,
)
from service.sources.registry import SOURCES, open_source
from service.sources.video_file import VideoFileSource

ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


class Bed(BaseModel):
    """How a service config nests a source: errors must name the path through it."""

    source: SourceConfig


def error_locations(exc: ValidationError) -> list[tuple[str | int, ...]]:
    return [tuple(error["loc"]) for error in exc.errors()]


def test_type_selects_the_model_and_defaults_follow_the_thesis_setup() -> None:
    video = ADAPTER.validate_python({"type": "video", "path": "demo.mp4"})
    camera = ADAPTER.validate_python({"type": "camera", "device": "rtsp://cam.local/stream"})
    realsense = ADAPTER.validate_python({"type": "realsense", "serial": "123456789"})
    assert isinstance(video, VideoSourceConfig) and video.loop and video.realtime
    assert video.path == Path("demo.mp4").absolute()  # paths are absolute once loaded
    assert isinstance(camera, CameraSourceConfig) and camera.device == "rtsp://cam.local/stream"
    by_index = ADAPTER.validate_python({"type": "camera", "device": 0})
    assert isinstance(by_index, CameraSourceConfig) and by_index.device == 0
    assert isinstance(realsense, RealSenseSourceConfig)
    assert (realsense.width, realsense.height, realsense.fps, realsense.recording) == (1280, 720, 30, None)


def test_unknown_key_is_an_error_naming_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        Bed.model_validate({"source": {"type": "realsense", "serail": "123"}})
    assert ("source", "realsense", "serail") in error_locations(info.value)
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_wrong_type_is_an_error_naming_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        Bed.model_validate({"source": {"type": "video", "path": "a.mp4", "loop": "sometimes"}})
    assert error_locations(info.value) == [("source", "video", "loop")]


def test_unknown_source_type_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        Bed.model_validate({"source": {"type": "webcam", "device": 0}})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"
    assert error_locations(info.value) == [("source",)]


def test_recording_must_be_a_realsense_file() -> None:
    with pytest.raises(ValidationError, match=r"\.bag or \.db3"):
        RealSenseSourceConfig(type="realsense", recording=Path("baby.mp4"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"read_timeout_s": 3.0, "no_signal_after_s": 2.0}, "read_timeout_s must be shorter"),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "backoff_max_s must not be shorter"),
        ({"no_signal_after_s": 0}, "greater than 0"),
    ],
)
def test_capture_config_refuses_inconsistent_timings(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CaptureConfig.model_validate(settings)


def test_capture_defaults() -> None:
    config = CaptureConfig()
    assert (config.no_signal_after_s, config.backoff_initial_s, config.backoff_max_s) == (1.5, 0.5, 30.0)


@pytest.mark.parametrize("model", [VideoSourceConfig, CameraSourceConfig, RealSenseSourceConfig, CaptureConfig])
def test_every_field_is_described(model: type[BaseModel]) -> None:
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == []


def test_registry_covers_every_source_type() -> None:
    union = typing.get_args(typing.get_args(SourceConfig)[0])
    declared = {typing.get_args(member.model_fields["type"].annotation)[0] for member in union}
    assert set(SOURCES) == declared == {"video", "camera", "realsense"}
    source = open_source(VideoSourceConfig(type="video", path=Path("x.mp4")))
    assert isinstance(source, VideoFileSource) and source.name == "video:x.mp4"
