"""GPU capacity of an exported pain model: a standalone script a GPU host runs in a few minutes.

Needs onnxruntime-gpu (CUDA provider; the TensorRT rows also need TensorRT's libraries) and, for the rows without
the Grad-CAM output, the `onnx` package. It builds its sessions with the service's own code
(`service/inference/providers.py`, `service/inference/model.py:session_options`), so what it measures is what
`model.providers` + `model.gpu` give the service. For each provider setting (CUDA fp32, TensorRT fp32, TensorRT fp16):

- model-only throughput and latency at batch 1..64, with the Grad-CAM output (the service's model) and without it
  (the same graph cut after `probs`), through IO binding and through a plain `session.run`;
- how far the outputs are from the export's own reference outputs (`reference.npz`), so fp16 is judged, not assumed;
- beds per GPU at `--rate` analysed frames/s per bed: frames/s at the service's largest batch / rate.

    python bench/gpu.py [--model exported_models/demo-synthetic/1] [--seconds 3] [--rate 10]
    python bench/gpu.py --providers CPUExecutionProvider --batches 1 2 --out /tmp/gpu-dry-run.json  # a dry run

Writes bench/results/gpu.json (or --out). Figures from different hosts are not comparable; the ratios within one
run are (variants of one batch size run back to back).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from service.inference.model import GRADCAM, INPUT_NAME, INPUT_SIZE, PROBS, resolve_model_file, session_options  # noqa: E402
from service.inference.provenance import REFERENCE_FILE  # noqa: E402
from service.inference.providers import (  # noqa: E402
    CPU,
    CUDA,
    TENSORRT,
    BatchRunner,
    GpuOptions,
    device_of,
    provider_entries,
)
from service.model_card import installed_models_root  # noqa: E402

BATCHES = (1, 2, 4, 8, 16, 32, 64)
SERVICE_MAX_BATCH = 8
"""The service's default `model.max_batch`: beds per GPU are counted at this batch (and at the best one)."""
SHAPE = (INPUT_SIZE, INPUT_SIZE, 3)


def settings(requested: list[str] | None) -> list[tuple[str, list[str], GpuOptions]]:
    """(label, providers, options) to measure: what this onnxruntime build offers, unless --providers says."""
    if requested:
        return [("+".join(requested), requested, GpuOptions())]
    available = ort.get_available_providers()
    if CUDA not in available:
        sys.exit(
            f"error: this onnxruntime has no {CUDA} (available: {available}); install onnxruntime-gpu on a "
            "GPU host, or pass --providers CPUExecutionProvider for a dry run"
        )
    rows = [("cuda-fp32", [CUDA, CPU], GpuOptions())]
    if TENSORRT in available:
        rows += [
            ("tensorrt-fp32", [TENSORRT, CUDA, CPU], GpuOptions()),
            ("tensorrt-fp16", [TENSORRT, CUDA, CPU], GpuOptions(fp16=True)),
        ]
    return rows


def probs_only(model_file: Path, folder: Path) -> Path | None:
    """The same graph cut after `probs` (no Grad-CAM nodes), or None without the `onnx` package."""
    try:
        import onnx.utils
    except ImportError:
        return None
    out = folder / "probs_only.onnx"
    onnx.utils.extract_model(str(model_file), str(out), [INPUT_NAME], [PROBS])
    return out


def open_session(
    model: Path, providers: list[str], gpu: GpuOptions, max_batch: int, cache: Path
) -> ort.InferenceSession:
    entries = provider_entries(providers, gpu, max_batch, INPUT_NAME, SHAPE, cache)
    return ort.InferenceSession(str(model), sess_options=session_options(), providers=entries)


def timed(run: BatchRunner, images: np.ndarray, seconds: float) -> dict[str, float]:
    run(images)  # warm-up: cuDNN's algorithm search / TensorRT's profile for this shape happen here
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(latencies) < 5:
        started = time.perf_counter()
        run(images)
        latencies.append(time.perf_counter() - started)
    batch = len(images)
    p50 = float(np.percentile(latencies, 50))
    return {
        "frames_per_s": round(batch * len(latencies) / sum(latencies), 1),
        "latency_p50_ms": round(p50 * 1000, 3),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 3),
        "runs": len(latencies),
    }


def reference_deviation(session: ort.InferenceSession, device: str | None, model_dir: Path) -> dict[str, Any]:
    reference = model_dir / REFERENCE_FILE
    if not reference.is_file():
        return {"skipped": f"no {REFERENCE_FILE} beside the model"}
    with np.load(reference) as data:
        crops, want_probs, want_maps = data["crops"], data["probs"], data["maps"]
        tolerances = {"probs": float(data["probs_tolerance"]), "maps": float(data["maps_tolerance"])}
    probs, maps = BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], device)(crops.astype(np.float32))
    return {
        "crops": len(crops),
        "max_probability_change": float(np.abs(probs - want_probs).max()),
        "max_gradcam_change": float(np.abs(maps - want_maps).max()),
        "service_load_tolerances": tolerances,
    }


def measure(
    label: str,
    providers: list[str],
    gpu: GpuOptions,
    model_dir: Path,
    cut: Path | None,
    batches: list[int],
    seconds: float,
    rate: float,
    cache: Path,
) -> dict[str, Any]:
    model_file = resolve_model_file(model_dir)
    top = max(batches)
    session = open_session(model_file, providers, gpu, top, cache)
    used = session.get_providers()
    device = device_of(used)
    result: dict[str, Any] = {
        "providers_requested": providers,
        "providers_used": used,
        "gpu_options": gpu.model_dump(mode="json"),
        "reference": reference_deviation(session, device, model_dir),
        "batches": {},
    }
    cut_session = open_session(cut, providers, gpu, top, cache) if cut is not None else None
    rng = np.random.default_rng(0)
    for batch in batches:
        images = rng.uniform(0, 255, (batch, *SHAPE)).astype(np.float32)
        row = {
            "gradcam_io_binding": timed(
                BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], device or "cpu"), images, seconds
            ),
            "gradcam_plain_run": timed(BatchRunner(session, INPUT_NAME, [PROBS, GRADCAM], None), images, seconds),
        }
        if cut_session is not None:
            row["probs_only_io_binding"] = timed(
                BatchRunner(cut_session, INPUT_NAME, [PROBS], device or "cpu"), images, seconds
            )
        result["batches"][str(batch)] = row
        print(
            f"{label} batch {batch}: " + ", ".join(f"{k} {v['frames_per_s']} frames/s" for k, v in row.items()),
            flush=True,
        )
    per_batch = {int(b): r["gradcam_io_binding"]["frames_per_s"] for b, r in result["batches"].items()}
    at_service = per_batch.get(SERVICE_MAX_BATCH) or per_batch[max(b for b in per_batch if b <= SERVICE_MAX_BATCH)]
    best_batch = max(per_batch, key=lambda b: per_batch[b])
    result["beds_at_rate"] = {
        "rate_per_bed_hz": rate,
        "at_service_max_batch": {"batch": SERVICE_MAX_BATCH, "beds": int(at_service // rate)},
        "at_best_batch": {"batch": best_batch, "beds": int(per_batch[best_batch] // rate)},
        "note": "model only: capture, face detection and cropping run on the cot nodes' CPUs",
    }
    return result


def gpu_name() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", type=Path, default=installed_models_root() / "demo-synthetic" / "1", help="exported model folder"
    )
    parser.add_argument(
        "--providers", nargs="+", help="one provider list to measure (default: CUDA, TensorRT fp32/fp16)"
    )
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row")
    parser.add_argument("--rate", type=float, default=10.0, help="analysed frames/s per bed")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu.json")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cut = probs_only(resolve_model_file(args.model), Path(tmp))
        cache = Path(tmp) / "trt-engines"
        rows = {
            label: measure(label, providers, gpu, args.model, cut, sorted(args.batches), args.seconds, args.rate, cache)
            for label, providers, gpu in settings(args.providers)
        }
    report = {
        "what": "model-only throughput of the exported pain model on this host's accelerator (bench/gpu.py)",
        "model": str(args.model),
        "host": {
            "gpu": gpu_name(),
            "cpu": platform.processor() or platform.machine(),
            "onnxruntime": ort.__version__,
            "available_providers": ort.get_available_providers(),
        },
        "probs_only_rows": "measured" if cut is not None else "skipped: the onnx package is not installed",
        "settings": rows,
        "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
