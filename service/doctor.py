"""`painwatch doctor`: can this host serve this config? One table of checks, each pass/warn/fail with its fix.

Nothing is changed: the database is not migrated, the demo video is not generated, no model is written. Exit code
0 when everything passes, 1 with warnings, 2 with failures (docs/architecture.md, "Doctor").
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from service.config.loading import demo_video_path
from service.config.settings import BedConfig, ServiceSettings
from service.files import file_sha256

logger = logging.getLogger(__name__)

Status = Literal["pass", "warn", "fail"]
EXIT_CODES: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}
CERT_WARN_DAYS = 30
SOURCE_TIMEOUT_S = 15.0
"""A bed's source gets this long to open and deliver one frame (a network camera may take a while)."""

_IDENTITY_ONNX = base64.b64decode(
    "CAgSEHBhaW53YXRjaC1kb2N0b3I6PAoQCgF4EgF5IghJZGVudGl0eRIGZG9jdG9yWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ=="
)
"""An 88-byte ONNX graph y = Identity(x), float[1], opset 13: a session per provider without the real model."""
_NOT_RUNTIME_PROVIDERS = {"AzureExecutionProvider"}
"""Listed by some onnxruntime builds but not a local execution provider: only checked when configured."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def run_checks(settings: ServiceSettings) -> list[Check]:
    """Every check, in the order an installer fixes things; a check that crashes is itself a failure."""
    steps: list[Callable[[ServiceSettings], list[Check]]] = [
        check_data_dir,
        check_detectors,
        check_providers,
        check_gpu,
        check_realsense,
        check_beds,
        check_database,
        check_tls,
        check_model,
    ]
    checks: list[Check] = []
    for step in steps:
        try:
            checks.extend(step(settings))
        except Exception as exc:  # a doctor reports, it never dies halfway
            logger.debug("check %s crashed", step.__name__, exc_info=True)
            name = step.__name__.removeprefix("check_").replace("_", " ")
            checks.append(Check(name, "fail", f"the check itself failed: {type(exc).__name__}: {exc}"))
    return checks


def exit_code(checks: list[Check]) -> int:
    return max((EXIT_CODES[c.status] for c in checks), default=0)


# -- checks ------------------------------------------------------------------------------------------------------


def check_data_dir(settings: ServiceSettings) -> list[Check]:
    folder = settings.data_dir
    name = "data folder"
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK):
            return [
                Check(
                    name,
                    "fail",
                    f"{folder} does not exist and {parent} is not writable by this user",
                    f"create it: install -d -m 700 -o {_user()} {folder}",
                )
            ]
        return [
            Check(
                name,
                "warn",
                f"{folder} does not exist yet (created at first start)",
                f"create it now: install -d -m 700 {folder}",
            )
        ]
    if not folder.is_dir():
        return [Check(name, "fail", f"{folder} is not a folder", "point data_dir (PAINWATCH_DATA_DIR) at a folder")]
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        return [
            Check(
                name,
                "fail",
                f"{folder} is owned by uid {info.st_uid}, the service runs as {_user()}",
                f"chown -R {_user()} {folder}",
            )
        ]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [Check(name, "fail", f"{folder} is not writable by {_user()}", f"chmod 700 {folder}")]
    if mode & 0o077:
        return [
            Check(
                name,
                "warn",
                f"{folder} is {mode:04o}: other users can reach snapshots and the database",
                f"chmod 700 {folder}",
            )
        ]
    return [Check(name, "pass", f"{folder} ({mode:04o}, owned by {_user()})")]


def check_detectors(settings: ServiceSettings) -> list[Check]:
    from service.vision import detector_models as dm

    used = {bed.detector.name for bed in settings.beds}
    needed = {f"mediapipe-{key.split('_')[0]}": key for key in dm.DETECTOR_MODELS}
    checks = []
    for detector, key in sorted(needed.items()):
        model = dm.DETECTOR_MODELS[key]
        path = dm.default_models_dir() / model.filename
        name = f"detector {detector}"
        missing: Status = "fail" if detector in used else "warn"
        fix = f"run `{dm.FETCH_COMMAND}` (or set {dm.MODELS_DIR_ENV})"
        if not path.is_file():
            checks.append(Check(name, missing, f"{path} is missing", fix))
            continue
        actual = file_sha256(path)
        if actual != model.sha256:
            checks.append(
                Check(
                    name,
                    "fail",
                    f"{path}: sha256 {actual[:12]}... is not the pinned {model.sha256[:12]}...",
                    f"delete it and {fix}",
                )
            )
            continue
        note = "" if detector in used else " (no bed uses it)"
        checks.append(Check(name, "pass", f"{path} (sha256 ok){note}"))
    return checks


def check_providers(settings: ServiceSettings) -> list[Check]:
    import onnxruntime as ort

    if settings.model.backend == "triton":
        return [Check("providers", "pass", f"not used here: the model runs in Triton at {settings.model.triton.url}")]

    available = ort.get_available_providers()
    configured = settings.model.providers
    wanted = list(dict.fromkeys([*configured, *(p for p in available if p not in _NOT_RUNTIME_PROVIDERS)]))
    checks = []
    for provider in wanted:
        problem = _provider_problem(ort, provider, available)
        in_use = provider in configured
        name = f"provider {provider.removesuffix('ExecutionProvider')}"
        if problem is None:
            note = "configured" if in_use else "available, not configured (model.providers)"
            checks.append(Check(name, "pass", f"a session runs on it ({note})"))
        elif in_use:
            checks.append(Check(name, "fail", problem, _provider_fix(provider)))
        else:
            checks.append(Check(name, "warn", f"{problem} (not configured)", _provider_fix(provider)))
    return checks


def _provider_problem(ort: Any, provider: str, available: list[str]) -> str | None:
    if provider not in available:
        return f"not in this onnxruntime build ({ort.__version__}; available: {', '.join(available)})"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(_IDENTITY_ONNX, sess_options=options, providers=[provider])
        if session.get_providers()[0] != provider:  # ORT falls back to CPU silently when a provider fails
            return f"a session fell back to {session.get_providers()[0]} (driver or library missing)"
        import numpy as np

        session.run(None, {"x": np.ones(1, np.float32)})
    except Exception as exc:
        return f"a session cannot run: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc!r}"
    return None


def _provider_fix(provider: str) -> str:
    if provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        return (
            "install onnxruntime-gpu with the CUDA/cuDNN versions it needs, or set model.providers: "
            "[CPUExecutionProvider]"
        )
    return "remove it from model.providers, or install an onnxruntime build that has it"


def check_gpu(settings: ServiceSettings) -> list[Check]:
    if settings.model.backend == "triton":
        return [Check("GPU", "pass", f"none needed here: the model runs in Triton at {settings.model.triton.url}")]
    wants_gpu = any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in settings.model.providers)
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        query = [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        try:
            result = subprocess.run(query, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [Check("GPU", "warn", f"nvidia-smi did not answer: {exc}", "check the NVIDIA driver")]
        gpus = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode == 0 and gpus:
            return [Check("GPU", "pass", "; ".join(gpus))]
        return [
            Check(
                "GPU",
                "warn" if not wants_gpu else "fail",
                f"nvidia-smi sees no GPU: {(result.stderr or result.stdout).strip()[:200]}",
                "check the NVIDIA driver",
            )
        ]
    if Path("/proc/driver/nvidia/gpus").is_dir():
        return [Check("GPU", "pass", "an NVIDIA driver is loaded (nvidia-smi not on PATH)")]
    if wants_gpu:
        return [
            Check(
                "GPU",
                "fail",
                "no GPU seen but model.providers asks for CUDA/TensorRT",
                "install the NVIDIA driver, or set model.providers: [CPUExecutionProvider]",
            )
        ]
    return [Check("GPU", "pass", "none seen; inference runs on the CPU (model.providers)")]


def check_realsense(settings: ServiceSettings) -> list[Check]:
    wanted = any(bed.source.type == "realsense" and bed.source.recording is None for bed in settings.beds)
    try:
        from service.sources.realsense_import import import_pyrealsense2

        rs = import_pyrealsense2()
    except Exception as exc:
        status: Status = "fail" if wanted else "warn"
        return [
            Check(
                "RealSense",
                status,
                f"pyrealsense2 cannot be imported: {exc}",
                "pip install pyrealsense2 libusb-package (the service's dependencies)",
            )
        ]
    devices = list(rs.context().query_devices())
    if not devices:
        return [
            Check(
                "RealSense",
                "warn",
                "no RealSense device connected",
                "plug the camera into a USB 3 port (blue) if a bed should use one; lsusb lists it",
            )
        ]
    checks = []
    for device in devices:
        info = {key: _device_info(rs, device, key) for key in _DEVICE_INFO}
        usb = info["usb_type_descriptor"] or "?"
        detail = f"{info['name']} serial {info['serial_number']}, firmware {info['firmware_version']}, USB {usb}"
        name = f"RealSense {info['serial_number']}"
        if usb.startswith("2"):
            checks.append(
                Check(
                    name,
                    "warn",
                    f"{detail}: USB 2 limits the colour stream (1280x720@30 needs USB 3)",
                    "use a USB 3 port and cable",
                )
            )
        elif (
            info["recommended_firmware_version"]
            and info["firmware_version"]
            and _older(info["firmware_version"], info["recommended_firmware_version"])
        ):
            checks.append(
                Check(
                    name,
                    "warn",
                    f"{detail}; recommended firmware {info['recommended_firmware_version']}",
                    "update the firmware (rs-fw-update)",
                )
            )
        else:
            checks.append(Check(name, "pass", detail))
    return checks


_DEVICE_INFO = ("name", "serial_number", "firmware_version", "recommended_firmware_version", "usb_type_descriptor")


def _device_info(rs: Any, device: Any, key: str) -> str:
    field = getattr(rs.camera_info, key)
    return str(device.get_info(field)) if device.supports(field) else ""


def _older(version: str, other: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".") if p.isdigit())

    return parts(version) < parts(other)


def check_beds(settings: ServiceSettings) -> list[Check]:
    return [_check_bed(settings, bed) for bed in settings.beds]


def _check_bed(settings: ServiceSettings, bed: BedConfig) -> Check:
    name = f"bed {bed.id}"
    source = bed.source
    if source.type == "video":
        if source.path == demo_video_path(settings.data_dir) and not source.path.is_file():
            return Check(
                name,
                "warn",
                f"demo video {source.path} not generated yet (the first start writes it)",
                "start the service once, or ignore",
            )
        if not source.path.is_file():
            return Check(name, "fail", f"video {source.path} not found", "fix the bed's source.path")
    if source.type == "realsense" and source.recording is not None and not source.recording.is_file():
        return Check(name, "fail", f"recording {source.recording} not found", "fix the bed's source.recording")
    outcome: dict[str, Any] = {}

    def read_one() -> None:
        from service.sources.registry import open_source

        frame_source = open_source(source)
        try:
            frame_source.open()
            deadline = time.monotonic() + SOURCE_TIMEOUT_S
            while time.monotonic() < deadline:
                frame = frame_source.read(0.5)
                if frame is not None:
                    outcome["frame"] = frame.rgb.shape
                    outcome["name"] = frame_source.name
                    return
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            frame_source.close()

    worker = threading.Thread(target=read_one, name=f"doctor-{bed.id}", daemon=True)
    worker.start()
    worker.join(SOURCE_TIMEOUT_S + 5)
    fix = "check the bed's source (cable, camera power, URL, file) and the config"
    if "frame" in outcome:
        height, width = outcome["frame"][:2]
        return Check(name, "pass", f"{outcome['name']}: a {width}x{height} frame read")
    if "error" in outcome:
        return Check(name, "fail", f"{source.type} source: {outcome['error']}", fix)
    return Check(name, "fail", f"{source.type} source: no frame within {SOURCE_TIMEOUT_S:g} s", fix)


def check_database(settings: ServiceSettings) -> list[Check]:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from service.store.database import MIGRATIONS_DIR, create_db_engine, default_url

    url = settings.store.url or default_url(settings.data_dir)
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    name = "database"
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not Path(parsed.database).is_file():
            return [Check(name, "warn", f"{shown}: no database yet (created and migrated at first start)")]
        engine = create_engine(url)  # no WAL pragma: reading the revision writes nothing
    else:
        engine = create_db_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return [
            Check(
                name,
                "fail",
                f"{shown}: cannot connect: {first}",
                "check store.url (PAINWATCH_STORE__URL), that the server runs and admits this host",
            )
        ]
    finally:
        engine.dispose()
    head = ", ".join(sorted(heads))
    if current == heads:
        return [Check(name, "pass", f"{shown}: reachable, at the migration head {head}")]
    if not current:
        return [Check(name, "warn", f"{shown}: reachable, empty (migrated to {head} at first start)")]
    unknown = current - known
    if unknown:
        return [
            Check(
                name,
                "fail",
                f"{shown}: at revision {', '.join(sorted(unknown))}, unknown to this version "
                f"(head {head}): written by a newer painwatch",
                "install the newer painwatch again",
            )
        ]
    return [
        Check(
            name,
            "warn",
            f"{shown}: at {', '.join(sorted(current))}, head is {head} (the service migrates at start)",
            "back up the database before the first start of this version",
        )
    ]


def check_tls(settings: ServiceSettings) -> list[Check]:
    server = settings.server
    if server.tls_certfile is None or server.tls_keyfile is None:
        if server.behind_tls_proxy:
            return [Check("TLS", "pass", "terminated by the reverse proxy (server.behind_tls_proxy)")]
        return [Check("TLS", "pass", f"not used: the service binds {server.host} (loopback only)")]
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = server.tls_certfile, server.tls_keyfile
    for path in (cert_path, key_path):
        if not path.is_file():
            return [Check("TLS", "fail", f"{path} not found", "fix server.tls_certfile / server.tls_keyfile")]
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (ValueError, OSError) as exc:
        return [Check("TLS", "fail", f"{cert_path}: not a PEM certificate ({exc})", "point at the PEM chain")]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        return [
            Check(
                "TLS",
                "fail",
                f"{key_path}: not an unencrypted PEM private key ({exc})",
                "export the key without a passphrase, readable only by the service user",
            )
        ]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if key.public_key().public_bytes(encoding, public) != cert.public_key().public_bytes(encoding, public):
        return [Check("TLS", "fail", f"{key_path} is not the key of {cert_path}", "pair the right key and cert")]
    now = datetime.now(UTC)
    subject = cert.subject.rfc4514_string()
    until = cert.not_valid_after_utc
    if now < cert.not_valid_before_utc:
        return [
            Check(
                "TLS",
                "fail",
                f"{subject}: not valid before {cert.not_valid_before_utc:%Y-%m-%d}",
                "check the host clock or the certificate",
            )
        ]
    if now >= until:
        return [Check("TLS", "fail", f"{subject}: expired on {until:%Y-%m-%d}", "renew the certificate")]
    days = (until - now).days
    checks = []
    if days < CERT_WARN_DAYS:
        checks.append(
            Check(
                "TLS",
                "warn",
                f"{subject}: expires in {days} days ({until:%Y-%m-%d})",
                "renew the certificate before it expires",
            )
        )
    else:
        checks.append(Check("TLS", "pass", f"{subject}: valid until {until:%Y-%m-%d} ({days} days), key matches"))
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        checks.append(Check("TLS key", "warn", f"{key_path} is {mode:04o}", f"chmod 600 {key_path}"))
    return checks


def check_model(settings: ServiceSettings) -> list[Check]:
    from service.inference.backends import model_loader
    from service.inference.triton import TritonModelError
    from service.model_card import card_warnings

    try:
        model = model_loader(settings.model)(settings.model.path)
    except TritonModelError as exc:
        fix = (
            "start Triton (model.triton.url) on the repository `painwatch models triton-repo NAME/VERSION -o REPO` "
            "writes for model.path, or set model.backend: onnxruntime"
        )
        return [Check("model", "fail", str(exc), fix)]
    except Exception as exc:
        return [
            Check(
                "model",
                "fail",
                str(exc),
                "set model.path (PAINWATCH_MODEL__PATH) to an exported model "
                "folder; `painwatch models list` shows the ones under model.root",
            )
        ]
    card = model.card
    checks = [
        Check(
            "model",
            "pass",
            f"{card.name}/{card.version} at {model.path.parent}: contract, sha256 and reference "
            f"outputs ok; warm-up {model.warmup_ms:.0f} ms on {', '.join(model.providers)}",
        )
    ]
    warnings = card_warnings(card, model.providers, settings.model.requested_providers)
    return checks + [Check("model card", "warn", warning, fix) for warning, fix in warnings]


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


# -- output ------------------------------------------------------------------------------------------------------

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def render(checks: list[Check], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if _is_tty() else 160, soft_wrap=False)
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("details", overflow="fold")
    table.add_column("fix")
    for check in checks:
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}[/]", check.detail, check.fix)
    console.print(table)
    counts = {s: sum(c.status == s for c in checks) for s in ("pass", "warn", "fail")}
    console.print(f"{counts['pass']} passed, {counts['warn']} warning(s), {counts['fail']} failure(s)")


def _is_tty() -> bool:
    return sys.stdout.isatty()


def doctor(config: Path | None, as_json: bool = False) -> int:
    """Load the config (a bad one is a ConfigError, exit 2), run every check, print, return the exit code."""
    import json

    from service.config import load_settings

    settings = load_settings(config)
    checks = run_checks(settings)
    if as_json:
        sys.stdout.write(json.dumps([asdict(c) for c in checks], indent=2) + "\n")
    else:
        render(checks, f"painwatch doctor: {config if config is not None else 'embedded default configuration'}")
    return exit_code(checks)
