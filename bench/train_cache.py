"""Epoch time of the thesis model at 224 px without and with the pool4 feature cache, measured in one run.

Without the cache every epoch runs blocks 1-5 + head forward (and block 5 + head backward) on the images;
with it, pool4 features are computed once and epochs run only block 5 + head. Same crops, same batches,
no augmentation in either (the cache cannot have it). Writes bench/results/train_cache.json.

    .venv/bin/python bench/train_cache.py [--crops 48] [--epochs 3] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

RESULT = Path(__file__).parent / "results" / "train_cache.json"
SIZE = 224


def write_crops(folder: Path, count: int) -> tuple[list[Path], np.ndarray]:
    """`count` 224 px JPEG face crops (the astronaut's face, shifted and tinted), half of them with a dark cue."""
    import cv2
    from skimage import data

    from service.vision.images import write_rgb

    rng = np.random.default_rng(0)
    face = data.astronaut()[60:200, 155:295]

    base = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    paths, labels = [], []
    for i in range(count):
        image = np.clip(np.roll(base, tuple(rng.integers(-8, 9, 2)), axis=(0, 1)) * rng.uniform(0.8, 1.2, 3), 0, 255)
        image = image.astype(np.uint8)
        pain = i % 2
        if pain:
            cv2.ellipse(image, (112, 175), (30, 16), 0, 0, 360, (30, 20, 20), -1)
        path = folder / f"crop_{i:03d}.jpg"
        write_rgb(path, image)
        paths.append(path)
        labels.append(pain)
    return paths, np.array(labels)


def time_epochs(model: Any, dataset: Any, labels: np.ndarray, config: Any) -> list[float]:
    from training.train.fit import fit

    return fit(model, dataset, None, labels, config, "bench").epoch_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    import tensorflow as tf

    from training.model.architecture import block5_head, build_model
    from training.train.cache import pool4_features
    from training.train.config import load_config
    from training.train.data import feature_dataset, image_dataset

    config = load_config(
        "videodol",
        overrides={
            "augmentation": {"enabled": False},
            "training": {"max_epochs": args.epochs, "batch_size": args.batch, "cache_pool4": True},
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = write_crops(Path(tmp), args.crops)
        images = image_dataset(paths, labels, SIZE, args.batch, shuffle_seed=0)
        without = time_epochs(build_model(seed=0), images, labels, config)

        model = build_model(seed=0)
        start = time.perf_counter()
        features = pool4_features(model, paths, SIZE, args.batch)
        cache_seconds = time.perf_counter() - start
        cached = feature_dataset(features, labels, args.batch, shuffle_seed=0)
        with_cache = time_epochs(block5_head(model), cached, labels, config)

    median_without, median_with = statistics.median(without), statistics.median(with_cache)
    result = {
        "benchmark": "epoch time without / with the pool4 feature cache (thesis model, frozen blocks 1-4)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), TensorFlow {tf.__version__} CPU",
        "input_size": SIZE,
        "crops": args.crops,
        "batch_size": args.batch,
        "epochs_each": args.epochs,
        "epoch_seconds_without_cache": [round(s, 3) for s in without],
        "epoch_seconds_with_cache": [round(s, 3) for s in with_cache],
        "median_epoch_seconds_without_cache": round(median_without, 3),
        "median_epoch_seconds_with_cache": round(median_with, 3),
        "speedup_ratio": round(median_without / median_with, 2),
        "target_ratio": 3.0,
        "cache_build_seconds": round(cache_seconds, 3),
        "cache_megabytes": round(features.nbytes / 1e6, 1),
        "note": "medians include each run's first (tracing) epoch; the cache is built once per run and reused by "
        "every fold and epoch",
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
