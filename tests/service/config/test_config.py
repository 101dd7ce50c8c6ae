"""Configuration: embedded default, example file, environment overrides, and bad files (exit 2, key named)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.config import load_settings
from service.errors import UserError
from tests.support.cli import PAINWATCH

REPO = Path(__file__).resolve().parents[3]


def test_embedded_default_is_one_demo_bed() -> None:
    settings = load_settings()
    (bed,) = settings.beds
    assert bed.source.type == "video" and bed.source.loop and bed.scale == "DAN"
    assert settings.server.host == "127.0.0.1" and settings.server.port == 8000
    assert settings.aggregation.window_s == 30.0 and settings.model.providers[-1] == "CPUExecutionProvider"


def test_example_config_with_every_source_loads() -> None:
    settings = load_settings(REPO / "docs" / "example-config.yaml")
    assert {bed.source.type for bed in settings.beds} == {"realsense", "camera", "video"}
    assert {bed.scale for bed in settings.beds} == {"DAN", "FLACC"}


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("beds: [{id: a, scale: FLACC, source: {type: camera, device: 0}}]\nserver: {port: 8100}\n")
    monkeypatch.setenv("PAINWATCH_SERVER__PORT", "9100")
    monkeypatch.setenv("PAINWATCH_AGGREGATION__WINDOW_S", "12.5")
    settings = load_settings(config)
    assert settings.server.port == 9100 and settings.aggregation.window_s == 12.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "beds: [{id: a, scale: DAN, source: {type: video, path: x.mp4, lop: true}}]\n",
            "beds[0].source.lop: unknown key",
        ),
        (
            "beds: [{id: a, scale: DAN, source: {type: video, path: x.mp4}}]\nmodel: {max_bach: 2}\n",
            "model.max_bach: unknown key",
        ),
        ("beds: [{id: a, scale: NIPS, source: {type: camera, device: 0}}]\n", "beds[0].scale"),
        ("beds: [{id: a, scale: DAN, source: {type: floppy}}]\n", "beds[0].source"),
        ("beds: []\n", "beds:"),
        ("beds: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(UserError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_settings(config)


def test_serve_with_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("beds: [{id: a, scale: DAN, source: {type: video, path: x.mp4}, detectr: {}}]\n")
    result = subprocess.run(
        [*PAINWATCH, "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "beds[0].detectr: unknown key" in result.stderr
