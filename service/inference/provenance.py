"""Model provenance: the file's SHA-256 and a reference set, written at export and checked before a model serves.

`painwatch export` (and `painwatch models seal` for an existing folder) writes beside model.onnx:
- `model.sha256`: the file's SHA-256 ("<hex>  model.onnx"); a model whose file no longer matches is refused;
- `reference.npz`: a few crops with the probabilities and Grad-CAM maps the export itself computed, and the
  tolerances. Loading re-runs them: a swapped, corrupted or mis-quantised file whose outputs deviate is refused.
Without a reference set a model is still refused when it is degenerate: the same output for clearly different
crops (a constant model would silence every bed) or outputs that are not finite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np

from service.files import atomic_path, file_sha256

SHA_FILE: Final = "model.sha256"
REFERENCE_FILE: Final = "reference.npz"
PROBS_TOLERANCE: Final = 2e-3
"""Reference probabilities may differ this much (other execution providers, thread counts); a wrong model differs
by far more."""
MAPS_TOLERANCE: Final = 2e-2
_CONSTANT: Final = 1e-6

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""float32 [N,224,224,3] -> (probs [N,2], maps [N,2,G,G])."""


def write_provenance(folder: Path, model_file: Path, crops: np.ndarray, run: Runner) -> str:
    """Write model.sha256 and reference.npz (crops as uint8, the outputs `run` gives for them); returns the hash."""
    images = np.clip(np.rint(crops), 0, 255).astype(np.uint8)
    probs, maps = run(images.astype(np.float32))
    with atomic_path(folder / REFERENCE_FILE) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, crops=images, probs=probs.astype(np.float32), maps=maps.astype(np.float32),
                            probs_tolerance=PROBS_TOLERANCE, maps_tolerance=MAPS_TOLERANCE)  # fmt: skip
    sha = file_sha256(model_file)
    with atomic_path(folder / SHA_FILE) as tmp:
        tmp.write_text(f"{sha}  {model_file.name}\n", encoding="utf-8")
    return sha


def provenance_problem(model_file: Path, run: Runner) -> str | None:
    """Why this model must not serve (hash mismatch, outputs off its reference set, degenerate), or None."""
    sha_file = model_file.parent / SHA_FILE
    if sha_file.is_file():
        expected = sha_file.read_text(encoding="utf-8").split()[0]
        actual = file_sha256(model_file)
        if actual != expected:
            return f"{model_file.name} does not match {SHA_FILE} (sha256 {actual[:16]}..., expected {expected[:16]}...)"
    reference = model_file.parent / REFERENCE_FILE
    if reference.is_file():
        return _reference_problem(reference, run)
    return _degenerate_problem(run)


def _reference_problem(reference: Path, run: Runner) -> str | None:
    with np.load(reference) as data:
        crops, want_probs, want_maps = data["crops"], data["probs"], data["maps"]
        probs_tol, maps_tol = float(data["probs_tolerance"]), float(data["maps_tolerance"])
    probs, maps = run(crops.astype(np.float32))
    if not (np.all(np.isfinite(probs)) and np.all(np.isfinite(maps))):
        return f"outputs on the {len(crops)} reference crops are not finite"
    probs_off = float(np.max(np.abs(probs - want_probs)))
    maps_off = float(np.max(np.abs(maps - want_maps))) if maps.shape == want_maps.shape else float("inf")
    if probs_off > probs_tol or maps_off > maps_tol:
        return (f"outputs deviate from its reference set ({REFERENCE_FILE}): probabilities by {probs_off:.2g} "
                f"(allowed {probs_tol:g}), Grad-CAM maps by {maps_off:.2g} (allowed {maps_tol:g})")  # fmt: skip
    return _constant_problem(probs, f"the {len(crops)} reference crops")


def _degenerate_problem(run: Runner) -> str | None:
    probs, maps = run(probe_crops())
    if not (np.all(np.isfinite(probs)) and np.all(np.isfinite(maps))):
        return "outputs on probe crops are not finite"
    return _constant_problem(probs, "four clearly different probe crops")


def _constant_problem(probs: np.ndarray, what: str) -> str | None:
    if float(np.ptp(probs[:, 1])) < _CONSTANT:
        return f"degenerate: the same pain probability ({float(probs[0, 1]):.4f}) for {what}"
    return None


def probe_crops() -> np.ndarray:
    """Four clearly different 224x224 RGB crops (dark, bright, noise, gradient), deterministic."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 224, dtype=np.float32)
    gradient = np.stack([np.tile(ramp, (224, 1)), np.tile(ramp[:, None], (1, 224)), np.full((224, 224), 128.0)], -1)
    return np.stack([
        np.full((224, 224, 3), 20.0, np.float32), np.full((224, 224, 3), 235.0, np.float32),
        rng.uniform(0, 255, (224, 224, 3)).astype(np.float32), gradient.astype(np.float32),
    ])  # fmt: skip
