"""Paths resolve from the installation and the config file's folder, never the working directory; every config
(service, training, data plan) reports problems the same way: file, line, key path, "did you mean"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.config import load_settings
from service.config.problems import ConfigError
from service.errors import UserError
from service.model_card import installed_models_root
from tests.support.cli import PAINWATCH
from training.data.plan import load_plan_config
from training.train.config import load_config

REPO = Path(__file__).resolve().parents[3]


def test_default_model_is_found_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAINWATCH_MODELS_ROOT", raising=False)
    settings = load_settings()
    assert installed_models_root() == REPO / "exported_models"
    assert settings.model.root == REPO / "exported_models"
    assert settings.model.path == REPO / "exported_models" / "demo-synthetic" / "1"
    assert (settings.model.path / "model.onnx").is_file()


def test_models_root_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAINWATCH_MODELS_ROOT", "site-models")  # relative: to the working directory
    settings = load_settings()
    assert settings.model.root == tmp_path / "site-models"
    assert settings.model.path == tmp_path / "site-models" / "demo-synthetic" / "1"
    monkeypatch.setenv("PAINWATCH_MODEL__ROOT", str(tmp_path / "other"))  # the setting itself wins
    monkeypatch.setenv("PAINWATCH_MODEL__PATH", "ward/3")  # relative from the environment: under model.root
    settings = load_settings()
    assert settings.model.path == tmp_path / "other" / "ward" / "3"


def test_relative_paths_in_a_config_file_resolve_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "painwatch"
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(
        "beds:\n"
        "  - {id: a, scale: DAN, source: {type: video, path: videos/a.mp4}}\n"
        "  - {id: b, scale: FLACC, source: {type: realsense, recording: ../rec/b.bag}}\n"
        "  - {id: c, scale: FLACC, source: {type: camera, device: 0}}\n"
        "model: {path: models/m/1, root: models}\n"
        "server: {tls_certfile: tls/cert.pem, tls_keyfile: tls/key.pem}\n"
        "data_dir: data\n"
    )
    monkeypatch.chdir(tmp_path)  # anywhere but the config's folder
    settings = load_settings(Path("etc/painwatch/config.yaml"))  # a relative --config is fine too
    a, b, c = (bed.source for bed in settings.beds)
    assert a.type == "video" and a.path == folder / "videos" / "a.mp4"
    assert b.type == "realsense" and b.recording == folder / ".." / "rec" / "b.bag"
    assert c.type == "camera" and c.device == 0
    assert settings.model.path == folder / "models" / "m" / "1" and settings.model.root == folder / "models"
    assert settings.server.tls_certfile == folder / "tls" / "cert.pem"
    assert settings.server.tls_keyfile == folder / "tls" / "key.pem"
    assert settings.data_dir == folder / "data"


def test_data_dir_from_the_environment_carries_the_demo_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAINWATCH_DATA_DIR", "state")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "state"
    (bed,) = settings.beds
    assert bed.source.type == "video" and bed.source.path == tmp_path / "state" / "demo" / "synthetic-demo.mp4"


def test_service_config_typos_get_suggestions_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "beds:\n  - id: a\n    scale: DNA\n    source: {type: video, path: x.mp4, lop: true}\nmodle: {}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert message.startswith(f"{config}: invalid configuration (3 problems):")
    assert f"{config}:5: modle: unknown key; did you mean `model`?" in message
    assert f"{config}:3: beds[0].scale: 'DNA' is not one of 'DAN', 'FLACC'; did you mean `DAN`?" in message
    assert f"{config}:4: beds[0].source.lop: unknown key; did you mean `beds[0].source.loop`?" in message
    assert info.value.exit_code == 2


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("beds:\n  - id: a\n    scale: [DAN\n")
    with pytest.raises(UserError, match=rf"{config}:\d+: not valid YAML"):
        load_settings(config)


def test_missing_config_file_names_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=f"{tmp_path / 'nope.yaml'}: configuration file not found"):
        load_settings(Path("nope.yaml"))


def test_training_config_typos_share_the_formatter(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("extends: mpain\nevaluation:\n  scheme: kfolds\noptimiser: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:3: evaluation.scheme: 'kfolds' is not one of 'kfold', 'holdout'; did you mean `kfold`?" in message
    assert f"{path}:4: optimiser: unknown key; did you mean `optimizer`?" in message


def test_plan_config_typos_share_the_formatter(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("rules:\n  - {scale: FLAC, faces: [0], label_policy: nonpain, sample_fps: 1}\nbalance_infant: {}\n")
    with pytest.raises(ConfigError) as info:
        load_plan_config(path)
    message = str(info.value)
    assert f"{path}:2: rules[0].scale: 'FLAC' is not one of 'DAN', 'FLACC'; did you mean `FLACC`?" in message
    assert f"{path}:3: balance_infant: unknown key; did you mean `balance_infants`?" in message


def test_cli_prints_the_suggestion_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("beds: [{id: a, scale: DAN, source: {type: camera, device: 0}}]\nmodle: {path: x}\n")
    result = subprocess.run(
        [*PAINWATCH, "doctor", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"{config}:2: modle: unknown key; did you mean `model`?" in result.stderr


def test_serve_names_a_missing_tls_file_by_its_absolute_path(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "c.yaml").write_text(
        "beds: [{id: a, scale: DAN, source: {type: camera, device: 0}}]\n"
        "server: {tls_certfile: tls/cert.pem, tls_keyfile: tls/key.pem}\n"
    )
    result = subprocess.run(
        [*PAINWATCH, "serve", "--config", "etc/c.yaml"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"server.tls_certfile: {folder / 'tls' / 'cert.pem'}: file not found" in result.stderr


def test_a_bad_environment_override_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("beds: [{id: a, scale: DAN, source: {type: camera, device: 0}}]\nserver: {port: 8000}\n")
    monkeypatch.setenv("PAINWATCH_SERVER__PORT", "eighty")
    with pytest.raises(ConfigError, match="environment PAINWATCH_SERVER__PORT: server.port: Input should be"):
        load_settings(config)
