"""Local ONNX Runtime vs NVIDIA Triton on the same machine and the same exported model, in one run.

Each case runs the service's own InferenceEngine (micro-batching across beds, max_batch 4, max_wait 5 ms) with one
backend; each "bed" is a thread that submits a face crop (the export's reference crops: real model inputs) and
waits for its result, in a loop, as fast as the engine answers (the model-only part of the bed pipeline: no
camera, no detector). Cases: local 1 and 4 beds; Triton 1 and 4 beds (one node); Triton 4 nodes x 1 bed (four
engines: Triton's dynamic batcher merges their requests). Measured: crops/s, p50/p95 latency per crop (submit to
result), Triton's batch sizes (its statistics API, per case), and the transport overhead: the engine's time in
`run` per request minus Triton's own time for it (receipt to response), per request and per crop.

The Triton server is the nvidia-pytriton wheel's tritonserver 2.51 (`make triton`), Python backend running
onnxruntime on CPU: on this machine the model computes on the same 2 shared cores either way, so compare ratios
within one run, not absolute numbers. The Python-backend model (triton_repo.PYTHON_MODEL) runs a merged batch's
requests one by one, so Triton batch sizes show the dynamic batcher's merging, not one larger ONNX Runtime call.

    .venv/bin/python bench/triton.py [--seconds 10] [--out bench/results/triton.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (the repo root is not an installed package)

from service.config.settings import ModelConfig  # noqa: E402
from service.inference import InferenceEngine  # noqa: E402
from service.inference.backends import model_loader  # noqa: E402
from service.inference.provenance import REFERENCE_FILE  # noqa: E402
from service.inference.triton import TritonConfig  # noqa: E402
from service.inference.triton_repo import RepoOptions, write_repository  # noqa: E402
from tests.support.triton import TritonServer, require_triton  # noqa: E402

MAX_BATCH = 4
MAX_WAIT_MS = 5.0
DEMO_MODEL = REPO / "exported_models" / "demo-synthetic" / "1"


@dataclass(frozen=True)
class Case:
    backend: str
    beds: int
    nodes: int = 1

    @property
    def name(self) -> str:
        where = "local" if self.backend == "onnxruntime" else "triton"
        return f"{where}-{self.nodes}x{self.beds}" if self.nodes > 1 else f"{where}-{self.beds}bed"


def run_case(case: Case, config: ModelConfig, crops: np.ndarray, seconds: float, server: TritonServer | None) -> dict:
    engines = [
        InferenceEngine(config.path, max_batch=MAX_BATCH, max_wait_ms=MAX_WAIT_MS, loader=model_loader(config))
        for _ in range(case.nodes)
    ]
    for engine in engines:
        engine.start()
    before = triton_stats(server) if server else None
    latencies: list[list[float]] = [[] for _ in range(case.nodes * case.beds)]
    stop = threading.Event()

    def bed(i: int, engine: InferenceEngine) -> None:
        k = i
        while not stop.is_set():
            started = time.perf_counter()
            engine.infer(crops[k % len(crops)], timeout_s=60)
            latencies[i].append(time.perf_counter() - started)
            k += 1

    threads = [
        threading.Thread(target=bed, args=(n * case.beds + b, engine))
        for n, engine in enumerate(engines)
        for b in range(case.beds)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - started
    after = triton_stats(server) if server else None
    run_s = [s for engine in engines for s in engine.recent_infer_s]
    batches = [n for engine in engines for n in engine.recent_batch_sizes]
    for engine in engines:
        engine.stop()
    flat = sorted(x for bed_latencies in latencies for x in bed_latencies)
    result: dict[str, Any] = {
        "case": case.name,
        "backend": case.backend,
        "nodes": case.nodes,
        "beds_per_node": case.beds,
        "crops": len(flat),
        "crops_per_s": round(len(flat) / elapsed, 2),
        "latency_ms_p50": round(1000 * percentile(flat, 50), 2),
        "latency_ms_p95": round(1000 * percentile(flat, 95), 2),
        "engine_batch_mean": round(statistics.fmean(batches), 2) if batches else None,
        "engine_run_ms_mean": round(1000 * statistics.fmean(run_s), 2) if run_s else None,
    }
    if before is not None and after is not None:
        result.update(triton_delta(before, after, run_s, batches))
    return result


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def triton_stats(server: TritonServer) -> dict[str, Any]:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.url)
    try:
        stats = client.get_inference_statistics("painwatch", "1", as_json=True)
    finally:
        client.close()
    return stats["model_stats"][0]


def triton_delta(before: dict, after: dict, run_s: list[float], batches: list[int]) -> dict[str, Any]:
    """Triton's batch sizes and its own time per request during the case; transport = engine's run time - that."""

    def count(stats: dict, key: str) -> tuple[int, int]:
        entry = stats.get("inference_stats", {}).get(key, {})
        return int(entry.get("count", 0)), int(entry.get("ns", 0))

    def batch_counts(stats: dict) -> dict[int, int]:
        return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}

    requests = int(after.get("inference_count", 0)) - int(before.get("inference_count", 0))
    executions = int(after.get("execution_count", 0)) - int(before.get("execution_count", 0))
    (n1, ns1), (n0, ns0) = count(after, "success"), count(before, "success")
    b0, b1 = batch_counts(before), batch_counts(after)
    sizes = {size: b1[size] - b0.get(size, 0) for size in sorted(b1) if b1[size] - b0.get(size, 0) > 0}
    server_ms = (ns1 - ns0) / max(1, n1 - n0) / 1e6
    client_ms = 1000 * statistics.fmean(run_s) if run_s else float("nan")
    transport_ms = client_ms - server_ms
    crops_per_request = statistics.fmean(batches) if batches else float("nan")
    return {
        "triton_requests": n1 - n0,
        "triton_crops": requests,
        "triton_executions": executions,
        "triton_batch_sizes": sizes,
        "triton_request_ms_mean": round(server_ms, 2),
        "transport_ms_per_request": round(transport_ms, 2),
        "transport_ms_per_crop": round(transport_ms / crops_per_request, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each case.")
    parser.add_argument("--model", type=Path, default=DEMO_MODEL, help="An exported model folder.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "triton.json")
    args = parser.parse_args()
    require_triton()
    with tempfile.TemporaryDirectory(prefix="painwatch-triton-bench-") as tmp:
        base = Path(tmp)
        folder = base / "models" / "painwatch" / "1"
        shutil.copytree(args.model, folder, ignore=shutil.ignore_patterns("training_report"))
        write_repository([folder], base / "repo", RepoOptions(backend="python", kind="cpu", max_batch=16,
                                                              max_queue_delay_us=1000))  # fmt: skip
        with np.load(folder / REFERENCE_FILE) as reference:
            crops = reference["crops"]
        server = TritonServer(base / "repo", base).start()
        try:
            local = ModelConfig(root=folder.parent.parent, path=folder, providers=["CPUExecutionProvider"])
            remote = local.model_copy(update={"backend": "triton", "triton": TritonConfig(url=server.url)})
            cases = [Case("onnxruntime", 1), Case("triton", 1), Case("onnxruntime", 4), Case("triton", 4),
                     Case("triton", 1, nodes=4)]  # fmt: skip
            results = []
            for case in cases:  # local and Triton interleaved, so the machine's load hits both alike
                config = local if case.backend == "onnxruntime" else remote
                result = run_case(case, config, crops, args.seconds, server if case.backend == "triton" else None)
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            server.stop()
    report = {
        "benchmark": "bench/triton.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": str(args.model.relative_to(REPO)) if args.model.is_relative_to(REPO) else str(args.model),
        "triton": "tritonserver 2.51 (nvidia-pytriton 0.7.0), Python backend running onnxruntime on CPU",
        "engine": {"max_batch": MAX_BATCH, "max_wait_ms": MAX_WAIT_MS},
        "seconds_per_case": args.seconds,
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
