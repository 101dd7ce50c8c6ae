"""The inference engine on a real exported model: contract checks, micro-batching, hot reload."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

from service.inference import InferenceEngine, InvalidModelOutput, ModelLoadError, load_model
from service.inference.engine import output_problem

pytestmark = pytest.mark.timeout(180)


def crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(n)]


def test_load_checks_contract_and_warms_up(model_dir: Path) -> None:
    model = load_model(model_dir, ["CPUExecutionProvider"])
    assert model.grid == 14 and model.providers == ["CPUExecutionProvider"]
    assert model.card.name and model.warmup_ms > 0


def test_concurrent_beds_are_micro_batched(model_dir: Path) -> None:
    sizes: list[int] = []
    engine = InferenceEngine(model_dir, max_batch=4, max_wait_ms=200, on_batch=lambda n, s: sizes.append(n))
    engine.start()
    try:
        results: list = [None] * 4
        barrier = threading.Barrier(4)

        def bed(i: int, crop: np.ndarray) -> None:
            barrier.wait()
            results[i] = engine.infer(crop, timeout_s=60)

        threads = [threading.Thread(target=bed, args=(i, c)) for i, c in enumerate(crops(4))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    finally:
        engine.stop()
    assert max(sizes) >= 2 and sum(sizes) == 4
    for r in results:
        assert 0.0 <= r.pain_probability <= 1.0
        assert r.gradcam.shape == (14, 14) and r.gradcam.min() >= 0.0 and r.gradcam.max() <= 1.0
    # batched results equal one-by-one results
    single = load_model(model_dir).run(np.stack(crops(4)).astype(np.float32)[:1])[0][0, 1]
    assert results[0].pain_probability == pytest.approx(float(single), abs=1e-5)


def test_reload_refuses_bad_files_and_keeps_serving(model_dir: Path, model_copy: Path, tmp_path: Path) -> None:
    engine = InferenceEngine(model_dir, max_batch=2, max_wait_ms=1)
    engine.start()
    try:
        before = engine.card
        corrupt = tmp_path / "corrupt" / "1"
        corrupt.mkdir(parents=True)
        (corrupt / "model.onnx").write_bytes(b"\x08\x01garbage" * 100)
        with pytest.raises(ModelLoadError, match="ONNX Runtime cannot load it"):
            engine.reload(corrupt)
        with pytest.raises(ModelLoadError, match="no model file"):
            engine.reload(tmp_path / "missing")
        assert engine.card is before
        assert 0.0 <= engine.infer(crops(1)[0], timeout_s=60).pain_probability <= 1.0

        card = engine.reload(model_copy)
        assert engine.model.path == model_copy / "model.onnx" and card.name == before.name
        assert engine.reloads == 1
        assert 0.0 <= engine.infer(crops(1)[0], timeout_s=60).pain_probability <= 1.0
    finally:
        engine.stop()


def test_wrong_contract_is_refused_with_the_reason(model_copy: Path) -> None:
    proto = onnx.load(str(model_copy / "model.onnx"))
    for output in proto.graph.output:  # rename `probs` in the interface and wherever the graph uses it
        output.name = "scores" if output.name == "probs" else output.name
    for node in proto.graph.node:
        node.output[:] = ["scores" if o == "probs" else o for o in node.output]
        node.input[:] = ["scores" if i == "probs" else i for i in node.input]
    onnx.save(proto, str(model_copy / "model.onnx"))
    with pytest.raises(ModelLoadError, match="output 'probs' is missing"):
        load_model(model_copy)


def test_submit_after_stop_fails_fast(model_dir: Path) -> None:
    engine = InferenceEngine(model_dir)
    with pytest.raises(Exception, match="not running"):
        engine.infer(crops(1)[0], timeout_s=1)


def test_nan_and_out_of_range_outputs_are_model_errors_never_scores(model_dir: Path, tmp_path: Path) -> None:
    """A model honouring the contract and passing the load checks, but answering NaN on face-like crops."""
    from tests.support.models import write_nan_on_faces_model

    folder = write_nan_on_faces_model(tmp_path / "nan" / "1", model_dir)
    reasons: list[str] = []
    engine = InferenceEngine(folder, ["CPUExecutionProvider"], on_invalid=reasons.append)
    engine.start()
    try:
        grey = np.full((224, 224, 3), 90, np.uint8)
        assert engine.infer(grey, timeout_s=30).pain_probability == pytest.approx(0.25 + 0.5 * 90 / 255)
        skin = grey.copy()
        skin[..., 0] = 180  # reddish, like a face crop
        with pytest.raises(InvalidModelOutput, match=r"model output invalid: probabilities are not finite"):
            engine.infer(skin, timeout_s=30)
    finally:
        engine.stop()
    assert engine.invalid_outputs == 1 and len(reasons) == 1


def test_output_checks_name_what_is_wrong() -> None:
    cam = np.full((2, 14, 14), 0.5, np.float32)
    assert output_problem(np.array([0.3, 0.7]), cam) is None
    assert output_problem(np.array([0.3, np.inf]), cam) == "probabilities are not finite ([0.3, inf])"
    assert output_problem(np.array([1.5, -0.5]), cam) == "probabilities outside [0, 1] ([1.5, -0.5])"
    assert output_problem(np.array([0.3, 0.3]), cam) == "probabilities do not sum to 1 (0.6000)"
    assert output_problem(np.array([0.3, 0.7]), cam * 3) == "Grad-CAM map outside [0, 1] (1.500..1.500)"


def test_provenance_refuses_a_changed_file_a_drifting_model_and_a_constant_one(
    model_dir: Path, model_copy: Path, tmp_path: Path
) -> None:
    from service.inference.provenance import SHA_FILE, probe_crops, write_provenance
    from tests.support.models import write_constant_model

    loaded = load_model(model_copy, ["CPUExecutionProvider"])  # the shipped model is sealed and matches
    assert len(loaded.sha256) == 64
    model_file = model_copy / "model.onnx"
    # a reference set whose expected outputs are off by 0.1: the model "drifted" from what was exported
    write_provenance(model_copy, model_file, probe_crops(), lambda x: (lambda p, m: (p + 0.1, m))(*loaded.run(x)))
    with pytest.raises(ModelLoadError, match=r"outputs deviate from its reference set \(reference.npz\): probab"):
        load_model(model_copy, ["CPUExecutionProvider"])
    (model_copy / SHA_FILE).write_text("0" * 64 + "  model.onnx\n")
    with pytest.raises(ModelLoadError, match="model.onnx does not match model.sha256"):
        load_model(model_copy, ["CPUExecutionProvider"])
    constant = write_constant_model(tmp_path / "constant" / "1", model_dir)  # passes the grey warm-up
    with pytest.raises(ModelLoadError, match=r"degenerate: the same pain probability \(0.1000\) for four"):
        load_model(constant, ["CPUExecutionProvider"])
