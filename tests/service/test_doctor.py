"""`painwatch doctor` / `painwatch serve --check` on this machine: real detector files, onnxruntime sessions, a real
SQLite database, a real video source and the real model; no RealSense camera here (a warning)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.config import load_settings
from service.demo_video import write_demo_video
from service.doctor import check_data_dir, check_database, check_tls, exit_code
from service.store.database import create_db_engine, default_url, upgrade
from tests.support.cli import PAINWATCH

CLI = PAINWATCH


def painwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("PAINWATCH_DATA_DIR", "PAINWATCH_MODELS_ROOT", "PAINWATCH_MODEL__PATH", "PAINWATCH_STORE__URL"):
        env.pop(name, None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, check=False, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A config in /<tmp>/etc/painwatch/config.yaml whose paths are all relative to that folder; the database
    exists at the migration head and the data folder is 0700."""
    root = tmp_path_factory.mktemp("site")
    folder = root / "etc" / "painwatch"
    write_demo_video(folder / "videos" / "bed1.mp4", seconds=2.0, fps=10.0, face_until_s=2.0)
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "current").symlink_to(model_dir, target_is_directory=True)
    (folder / "config.yaml").write_text(
        "beds: [{id: bed1, scale: DAN, source: {type: video, path: videos/bed1.mp4}}]\n"
        "model: {path: models/current, providers: [CPUExecutionProvider]}\n"
        "data_dir: data\n"
    )
    data = folder / "data"
    data.mkdir(mode=0o700)
    engine = create_db_engine(default_url(data))
    upgrade(engine)
    engine.dispose()
    (root / "elsewhere").mkdir()
    return folder / "config.yaml"


def by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in checks}


def test_doctor_passes_this_machine_and_warns_about_realsense(site: Path) -> None:
    result = painwatch("doctor", "--config", str(site), "--json", cwd=site.parents[2] / "elsewhere")
    checks = by_name(json.loads(result.stdout))
    for name in ("detector mediapipe-short", "provider CPU", "database", "model", "data folder", "bed bed1", "TLS"):
        assert checks[name]["status"] == "pass", checks[name]
    assert "a 640x480 frame read" in checks["bed bed1"]["detail"]
    assert "at the migration head" in checks["database"]["detail"]
    assert str(site.parent / "data" / "painwatch.db") in checks["database"]["detail"]
    assert "contract, sha256 and reference outputs ok" in checks["model"]["detail"]
    realsense = checks["RealSense"]
    assert realsense["status"] == "warn" and realsense["detail"] == "no RealSense device connected"
    assert realsense["fix"]
    assert all(c["status"] != "fail" for c in checks.values()), checks
    assert result.returncode == 1, result.stderr  # warnings only

    table = painwatch("doctor", "--config", str(site), cwd=site.parents[2] / "elsewhere")
    assert table.returncode == 1
    assert "no RealSense device connected" in table.stdout and "0 failure(s)" in table.stdout


def test_serve_check_runs_the_doctor_and_does_not_serve(site: Path) -> None:
    started = time.monotonic()
    result = painwatch("serve", "--check", "--config", str(site), cwd=site.parents[2] / "elsewhere")
    assert result.returncode == 1, result.stderr
    assert "no RealSense device connected" in result.stdout
    assert "dashboard" not in result.stdout  # the serving banner never printed
    assert time.monotonic() - started < 120


def test_doctor_failures_name_absolute_paths_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "c.yaml"
    config.parent.mkdir()
    config.write_text(
        "beds: [{id: b, scale: DAN, source: {type: video, path: gone.mp4}}]\n"
        "model: {path: no-such-model}\n"
        "store: {url: 'postgresql+psycopg://painwatch:secret@127.0.0.1:9/painwatch'}\n"
        "data_dir: data\n"
    )
    result = painwatch("doctor", "--config", str(config), "--json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    checks = by_name(json.loads(result.stdout))
    assert checks["bed b"] == {
        "name": "bed b", "status": "fail", "detail": f"video {tmp_path / 'conf' / 'gone.mp4'} not found",
        "fix": "fix the bed's source.path",
    }  # fmt: skip
    assert checks["model"]["status"] == "fail" and str(tmp_path / "conf" / "no-such-model") in checks["model"]["detail"]
    database = checks["database"]
    assert database["status"] == "fail" and "cannot connect" in database["detail"]
    assert "secret" not in database["detail"]  # the password is never shown
    assert checks["data folder"]["status"] == "warn"  # not created yet: the first start makes it


def test_database_behind_head_warns_without_migrating(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    engine = create_db_engine(default_url(data))
    upgrade(engine, "0003")
    engine.dispose()
    settings = load_settings_for(tmp_path, data)
    (check,) = check_database(settings)
    assert check.status == "warn" and "at 0003, head is" in check.detail
    (again,) = check_database(settings)  # doctor did not migrate it
    assert again.detail == check.detail


def test_data_folder_permissions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    settings = load_settings_for(tmp_path, data)
    assert [c.status for c in check_data_dir(settings)] == ["pass"]
    data.chmod(0o755)
    (check,) = check_data_dir(settings)
    assert check.status == "warn" and "0755" in check.detail and check.fix == f"chmod 700 {data}"


def test_tls_certificate_checks(tmp_path: Path) -> None:
    long_cert, key = make_certificate(tmp_path / "long", days=365)
    short_cert, short_key = make_certificate(tmp_path / "short", days=10)
    _, other_key = make_certificate(tmp_path / "other", days=365)
    cases = [(long_cert, key, "pass"), (short_cert, short_key, "warn"), (long_cert, other_key, "fail")]
    for cert_file, key_file, expected in cases:
        tls = f"server: {{tls_certfile: {cert_file}, tls_keyfile: {key_file}}}\n"
        checks = check_tls(load_settings_for(tmp_path, tmp_path / "data", tls))
        assert checks[0].status == expected, checks
        assert exit_code(checks) == {"pass": 0, "warn": 1, "fail": 2}[expected]
        if expected == "warn":
            assert "expires in 9 days" in checks[0].detail
        if expected == "fail":
            assert "is not the key of" in checks[0].detail


def load_settings_for(tmp_path: Path, data: Path, extra: str = "") -> Any:
    config = tmp_path / f"c-{len(list(tmp_path.glob('c-*.yaml')))}.yaml"
    config.write_text(f"beds: [{{id: a, scale: DAN, source: {{type: camera, device: 0}}}}]\ndata_dir: {data}\n{extra}")
    return load_settings(config)


def make_certificate(folder: Path, days: int) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "painwatch.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path
