"""The Triton backend against a real Triton Inference Server (tests/support/triton.py; `make triton`).

The repository is written by `painwatch models triton-repo` itself (Python backend: the only one in the server the
nvidia-pytriton wheel ships); the service's checks, client and engine are the ones a GPU server would meet.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from service.config.settings import ModelConfig
from service.errors import UserError
from service.files import file_sha256
from service.inference import InferenceEngine, ModelUnavailable, load_model
from service.inference.backends import model_loader
from service.inference.provenance import REFERENCE_FILE
from service.inference.triton import TritonConfig, TritonModelError, load_triton_model, server_problem
from service.inference.triton_repo import CONFIG_FILE, RepoOptions, read_config, write_config, write_repository
from tests.support.cli import start_serve
from tests.support.network import free_port, wait_until_answering
from tests.support.triton import TritonServer, require_triton

pytestmark = pytest.mark.timeout(300)

PYTHON_CPU = RepoOptions(backend="python", kind="cpu", max_batch=8, max_queue_delay_us=1000)


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)


def local_models(root: Path, model_dir: Path, *names: str) -> list[Path]:
    """Copies of the exported model under root/<name>/1 (a models root like exported_models)."""
    folders = []
    for name in names:
        folder = root / name / "1"
        shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("training_report"))
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonServer, Path]]:
    """One Triton on a repository of three models: `painwatch` (as exported), `tampered` (its config records another
    SHA-256) and `small` (max_batch_size 2). Yields the server and the local models root."""
    require_triton()
    base = tmp_path_factory.mktemp("triton")
    root, repo = base / "models", base / "repo"
    painwatch, tampered, small = local_models(root, model_dir, "painwatch", "tampered", "small")
    write_repository([painwatch, tampered], repo, PYTHON_CPU)
    write_repository([small], repo, RepoOptions(backend="python", kind="cpu", max_batch=2))
    config = repo / "tampered" / CONFIG_FILE
    config.write_text(config.read_text().replace(file_sha256(tampered / "model.onnx"), "0" * 64))
    server = TritonServer(repo, base).start()
    try:
        yield server, root
    finally:
        server.stop()


# -- the repository ----------------------------------------------------------------------------------------------


def test_repository_is_triton_config_with_hash_per_version(model_dir: Path, tmp_path: Path) -> None:
    folders = local_models(tmp_path / "models", model_dir, "ward")
    second = tmp_path / "models" / "ward" / "2"
    shutil.copytree(folders[0], second)
    published = write_repository([*folders, second], tmp_path / "repo", RepoOptions(max_batch=16, instances=2))

    assert [(p.name, p.version) for p in published] == [("ward", "1"), ("ward", "2")]
    config = read_config(tmp_path / "repo" / "ward" / CONFIG_FILE)  # Triton's own schema parses it
    assert config.name == "ward" and config.backend == "onnxruntime" and config.max_batch_size == 16  # type: ignore[attr-defined]
    assert [(t.name, list(t.dims)) for t in config.input] == [("image", [224, 224, 3])]  # type: ignore[attr-defined]
    assert [(t.name, list(t.dims)) for t in config.output] == [("probs", [2]), ("gradcam", [2, 14, 14])]  # type: ignore[attr-defined]
    assert config.instance_group[0].kind == 1 and config.instance_group[0].count == 2  # type: ignore[attr-defined]  # KIND_GPU
    assert config.dynamic_batching.max_queue_delay_microseconds == 500  # type: ignore[attr-defined]
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8, 16]  # type: ignore[attr-defined]
    assert not config.HasField("optimization")  # type: ignore[attr-defined]  # no TensorRT unless asked
    assert config.version_policy.HasField("all")  # type: ignore[attr-defined]
    sha = file_sha256(model_dir / "model.onnx")
    assert {k: v.string_value for k, v in config.parameters.items()} == {  # type: ignore[attr-defined]
        "painwatch_sha256_v1": sha,
        "painwatch_sha256_v2": sha,
    }
    copied = tmp_path / "repo" / "ward" / "2" / "model.onnx"
    assert file_sha256(copied) == sha and copied.stat().st_mode & 0o777 == 0o644
    assert not (tmp_path / "repo" / "ward" / "1" / "model.py").exists()  # only for --backend python
    card = tmp_path / "repo" / "ward" / "2" / "model_card.json"  # the card travels with the model
    assert card.read_bytes() == (model_dir / "model_card.json").read_bytes()
    assert not list((tmp_path / "repo").rglob("*.tmp"))


def test_repository_refuses_what_the_service_would_refuse(model_dir: Path, tmp_path: Path) -> None:
    (good,) = local_models(tmp_path / "models", model_dir, "good")
    named = tmp_path / "models" / "named" / "v2"
    shutil.copytree(good, named)
    with pytest.raises(UserError, match="whole numbers from 1; this folder is version 'v2'"):
        write_repository([good, named], tmp_path / "repo", RepoOptions())
    assert not (tmp_path / "repo").exists()  # checked before anything is written

    reference = good / REFERENCE_FILE
    with np.load(reference) as data:
        arrays = dict(data)
    arrays["probs"] = arrays["probs"][:, ::-1].copy()  # outputs the file does not give
    np.savez(reference, **arrays)
    with pytest.raises(UserError, match="not published: .*deviate from its reference set"):
        write_repository([good], tmp_path / "repo", RepoOptions())
    assert not (tmp_path / "repo").exists()


def test_cli_writes_the_repository(model_dir: Path, tmp_path: Path) -> None:
    from service.main import _app

    local_models(tmp_path / "models", model_dir, "cli")
    result = CliRunner().invoke(
        _app,
        ["models", "triton-repo", "cli/1", "--root", str(tmp_path / "models"), "-o", str(tmp_path / "repo"),
         "--backend", "python", "--kind", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cli/1:" in result.output and "model.backend: triton" in result.output
    assert (tmp_path / "repo" / "cli" / "1" / "model.py").is_file()
    assert read_config(tmp_path / "repo" / "cli" / CONFIG_FILE).backend == "python"  # type: ignore[attr-defined]
    bad = CliRunner().invoke(_app, ["models", "triton-repo", "cli/1", "--root", str(tmp_path / "models"),
                                    "-o", str(tmp_path / "repo"), "--kind", "tpu"])  # fmt: skip
    assert isinstance(bad.exception, UserError) and str(bad.exception) == "--kind: 'tpu' is not one of gpu, cpu"


def test_tensorrt_fp16_accelerator_for_gpu_onnx_runtime_only(model_dir: Path, tmp_path: Path) -> None:
    folders = local_models(tmp_path / "models", model_dir, "trt")
    write_repository(folders, tmp_path / "repo", RepoOptions(max_batch=6, tensorrt_fp16=True))
    config = read_config(tmp_path / "repo" / "trt" / CONFIG_FILE)
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator  # type: ignore[attr-defined]
    assert accelerator.name == "tensorrt" and dict(accelerator.parameters) == {"precision_mode": "FP16"}
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 6]  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="--tensorrt-fp16 needs --backend onnxruntime and --kind gpu"):
        write_repository(folders, tmp_path / "repo", RepoOptions(kind="cpu", tensorrt_fp16=True))


def test_config_grids_must_agree(tmp_path: Path, model_dir: Path) -> None:
    folder = tmp_path / "m"
    (folder / "1").mkdir(parents=True)
    shutil.copy(model_dir / "model.onnx", folder / "1" / "model.onnx")
    write_config(folder, RepoOptions())
    assert read_config(folder / CONFIG_FILE).output[1].dims == [2, 14, 14]  # type: ignore[attr-defined]


# -- configuration -----------------------------------------------------------------------------------------------


def test_config_refuses_clear_text_off_loopback_and_slow_timeouts() -> None:
    with pytest.raises(ValidationError, match="in clear text: set tls: true"):
        TritonConfig(url="10.1.2.3:8001")
    assert TritonConfig(url="triton.ward.example:8001", tls=True).host == "triton.ward.example"
    with pytest.raises(ValidationError, match="not host:port"):
        TritonConfig(url="grpc://127.0.0.1:8001")
    with pytest.raises(ValidationError, match="root_certificates is set but tls is false"):
        TritonConfig(root_certificates=Path("/etc/ca.pem"))
    with pytest.raises(ValidationError, match=r"triton.timeout_s \(20\) must not exceed infer_timeout_s \(10\)"):
        ModelConfig(backend="triton", triton=TritonConfig(timeout_s=20))
    with pytest.raises(ValidationError, match="'onnxruntime' or 'triton'"):
        ModelConfig(backend="tensorrt")  # type: ignore[arg-type]


def test_unreachable_server_is_a_clear_refusal(model_dir: Path, tmp_path: Path) -> None:
    (folder,) = local_models(tmp_path, model_dir, "nobody")
    config = TritonConfig(url=f"127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(TritonModelError, match=rf"Triton at {config.url}: .*(failed to connect|unavailable)"):
        load_triton_model(folder, config)
    assert server_problem(config) is not None


# -- a real server -----------------------------------------------------------------------------------------------


def test_triton_serves_what_onnx_runtime_computes_here(served: tuple[TritonServer, Path], model_dir: Path) -> None:
    server, root = served
    model = load_triton_model(root / "painwatch" / "1", TritonConfig(url=server.url), max_batch=8)
    local = load_model(model_dir, ["CPUExecutionProvider"])

    assert model.card == local.card and model.grid == 14 and model.sha256 == local.sha256
    assert model.providers == [f"triton {server.url} painwatch/1 (python on CPU)"]
    assert model.warmup_ms > 0
    images = crops(5).astype(np.float32)
    probs, maps = model.run(images)
    want_probs, want_maps = local.run(images)
    assert probs.shape == (5, 2) and maps.shape == (5, 2, 14, 14)
    np.testing.assert_allclose(probs, want_probs, atol=1e-5)
    np.testing.assert_allclose(maps, want_maps, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "max_batch", "message"),
    [
        ("tampered", 8, r"Triton serves another file: its config records sha256 0000000000000000\.\.\., the local"),
        ("small", 8, "max_batch_size is 2 but model.max_batch is 8: .*--max-batch 8"),
        ("absent", 8, r"has no ready model 'absent' version 1; write the repository with `painwatch models"),
    ],
)
def test_triton_model_that_is_not_the_checked_one_is_refused(
    served: tuple[TritonServer, Path], model_dir: Path, tmp_path: Path, name: str, max_batch: int, message: str
) -> None:
    server, root = served
    folder = root / name / "1"
    if not folder.exists():
        local_models(root, model_dir, name)
    with pytest.raises(TritonModelError, match=message):
        load_triton_model(folder, TritonConfig(url=server.url), max_batch=max_batch)


def test_batches_beyond_tritons_max_batch_size_are_split(served: tuple[TritonServer, Path], model_dir: Path) -> None:
    """`small` takes at most 2 crops a request: its 8-crop reference set and a 5-crop batch go in several requests."""
    server, root = served
    model = load_triton_model(root / "small" / "1", TritonConfig(url=server.url), max_batch=2)
    assert model.max_batch_size == 2
    images = crops(5, seed=9).astype(np.float32)
    probs, maps = model.run(images)
    want_probs, want_maps = load_model(model_dir, ["CPUExecutionProvider"]).run(images)
    np.testing.assert_allclose(probs, want_probs, atol=1e-5)
    np.testing.assert_allclose(maps, want_maps, atol=1e-5)


def test_local_reference_set_is_checked_through_triton(served: tuple[TritonServer, Path], tmp_path: Path) -> None:
    """A Triton that answers differently from the export (another precision, a broken accelerator) is refused: here
    the local reference outputs are shifted, so the server's true answers no longer match them."""
    server, root = served
    folder = tmp_path / "painwatch" / "1"
    shutil.copytree(root / "painwatch" / "1", folder)
    with np.load(folder / REFERENCE_FILE) as data:
        arrays = dict(data)
    arrays["maps"] = np.clip(arrays["maps"] + 0.1, 0, 1)
    np.savez(folder / REFERENCE_FILE, **arrays)
    with pytest.raises(TritonModelError, match="Grad-CAM maps by 0.1"):
        load_triton_model(folder, TritonConfig(url=server.url))


def test_engine_batches_beds_through_triton_and_reloads(served: tuple[TritonServer, Path], model_dir: Path) -> None:
    server, root = served
    config = ModelConfig(root=root, path=Path("painwatch/1"), backend="triton", triton=TritonConfig(url=server.url))
    sizes: list[int] = []
    engine = InferenceEngine(
        config.path, max_batch=4, max_wait_ms=300, on_batch=lambda n, _s: sizes.append(n), loader=model_loader(config)
    )
    engine.start()
    try:
        images = crops(4, seed=3)
        results: list = [None] * 4
        barrier = threading.Barrier(4)

        def bed(i: int) -> None:
            barrier.wait()
            results[i] = engine.infer(images[i], timeout_s=60)

        threads = [threading.Thread(target=bed, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        want, want_maps = load_model(model_dir, ["CPUExecutionProvider"]).run(images.astype(np.float32))
        assert [r.pain_probability for r in results] == pytest.approx(want[:, 1].tolist(), abs=1e-5)
        np.testing.assert_allclose(results[0].gradcam, want_maps[0, 1], atol=1e-5)
        assert max(sizes) > 1  # the four beds shared Triton requests

        with pytest.raises(TritonModelError, match="Triton serves another file"):
            engine.reload(root / "tampered" / "1")
        assert engine.model.path == root / "painwatch" / "1" / "model.onnx"  # the old model keeps serving
        assert engine.infer(images[0], timeout_s=60).pain_probability == pytest.approx(float(want[0, 1]), abs=1e-5)
    finally:
        engine.stop()


def test_triton_outage_fails_batches_then_recovers(model_dir: Path, tmp_path: Path) -> None:
    """A Triton that goes away fails each batch (ModelUnavailable: the beds report model_error, never a score) and
    the same engine serves again once Triton is back on its address: no restart of the service."""
    require_triton()
    (folder,) = local_models(tmp_path / "models", model_dir, "outage")
    write_repository([folder], tmp_path / "repo", PYTHON_CPU)
    server = TritonServer(tmp_path / "repo", tmp_path).start()
    config = TritonConfig(url=server.url, timeout_s=3)
    engine = InferenceEngine(folder, max_batch=2, loader=lambda path: load_triton_model(path, config, 2))
    engine.start()
    image = crops(1, seed=5)[0]
    try:
        before = engine.infer(image, timeout_s=30).pain_probability
        server.stop()
        with pytest.raises(ModelUnavailable, match="inference failed"):
            engine.infer(image, timeout_s=30)
        assert server_problem(config) is not None
        server.start()
        assert server_problem(config) is None
        assert engine.infer(image, timeout_s=30).pain_probability == pytest.approx(before, abs=1e-6)
        assert engine.running
    finally:
        engine.stop()
        server.stop()


def test_painwatch_serve_and_doctor_with_triton(
    served: tuple[TritonServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real service with `model.backend: triton` (from the environment): it becomes ready, analyses the demo
    bed's frames through Triton without a model error, and reports the backend; the doctor's model row passes."""
    import os
    import signal
    import subprocess
    import time

    import httpx

    from service.config.loading import load_settings
    from service.doctor import check_gpu, check_model, check_providers

    server, root = served
    port = free_port()
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_SERVER__PORT": str(port), "PAINWATCH_DATA_DIR": "state",
        "PAINWATCH_ADMIN_PASSWORD": "triton-test-password-1", "PAINWATCH_MODEL__ROOT": str(root),
        "PAINWATCH_MODEL__PATH": "painwatch/1", "PAINWATCH_MODEL__BACKEND": "triton",
        "PAINWATCH_MODEL__TRITON__URL": server.url,
    }  # fmt: skip
    for name, value in env.items():
        if name.startswith("PAINWATCH_MODEL"):
            monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.model.backend == "triton" and settings.model.triton.url == server.url
    model_row, *card_rows = check_model(settings)
    assert [r.name for r in card_rows] == ["model card"] * len(card_rows)  # demo model; no provider fallback
    assert not any(r.detail.startswith("asked for") for r in card_rows)
    assert model_row.status == "pass" and f"triton {server.url} painwatch/1" in model_row.detail, model_row
    assert "Triton at" in check_providers(settings)[0].detail and "Triton at" in check_gpu(settings)[0].detail

    log = tmp_path / "service.log"
    process = start_serve([], log, env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/readyz", process, 150, log.read_text)
        login = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "triton-test-password-1"}, timeout=30
        )
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        report = httpx.get(f"{base}/api/model", headers=headers, timeout=10).json()
        assert report["backend"] == "triton" and report["providers"] == [
            f"triton {server.url} painwatch/1 (python on CPU)"
        ]
        assert not any(w["text"].startswith("asked for") for w in report["warnings"])  # no provider "fallback"
        deadline = time.monotonic() + 90
        while True:  # the demo video's first seconds show a face: a probability computed by Triton
            assert time.monotonic() < deadline, f"no probability from Triton:\n{log.read_text()[-3000:]}"
            metrics = httpx.get(f"{base}/metrics", headers=headers, timeout=10).text
            if (
                "painwatch_inference_seconds_count" in metrics
                and "painwatch_inference_seconds_count 0.0" not in metrics
            ):
                break
            time.sleep(0.5)
        assert "painwatch_model_output_invalid_total 0.0" in metrics
        assert "inference failed" not in log.read_text()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_tls_connection_needs_the_servers_ca(model_dir: Path, tmp_path: Path) -> None:
    """Triton with --grpc-use-ssl: the service connects with tls + root_certificates; without the CA, or in clear
    text, it is refused with the reason (the crops never go out unencrypted)."""
    from tests.service.auth.test_first_start_and_tls import self_signed_certificate

    require_triton()
    (folder,) = local_models(tmp_path / "models", model_dir, "secure")
    write_repository([folder], tmp_path / "repo", PYTHON_CPU)
    certificate, key = self_signed_certificate(tmp_path)
    server = TritonServer(tmp_path / "repo", tmp_path, tls=(certificate, key)).start()
    try:
        secure = TritonConfig(url=server.url, tls=True, root_certificates=certificate)
        model = load_triton_model(folder, secure, max_batch=8)
        assert model.run(crops(1).astype(np.float32))[0].shape == (1, 2)
        with pytest.raises(TritonModelError, match=f"Triton at {server.url}: "):
            load_triton_model(folder, TritonConfig(url=server.url, tls=True, timeout_s=3))  # system CAs: untrusted
        with pytest.raises(TritonModelError, match=f"Triton at {server.url}: "):
            load_triton_model(folder, TritonConfig(url=server.url, timeout_s=3))  # clear text to a TLS server
    finally:
        server.stop()
