"""What a training run will do: datasets, grouped folds and their leakage check, all checked up front.

No TensorFlow here: a wrong file, class or fold count is reported before TensorFlow even loads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from service.errors import UserError
from training.train.config import TrainConfig
from training.train.datasets import DatasetInfo, Sample, load_datasets
from training.train.splits import Fold, check_leakage, make_folds

logger = logging.getLogger(__name__)

RESULTS_FILE: Final = "results.json"


@dataclass
class Plan:
    """What a run will do, fully checked before training starts."""

    config: TrainConfig
    samples: list[Sample]
    datasets: list[DatasetInfo]
    folds: list[Fold]
    split_check: dict[str, Any]
    backbone_weights: Path | None
    run_dir: Path
    command: str
    feature_scale: float | None = None
    """Set by the trainer with training.unit_rms_features: the factor on the last frozen convolution."""

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=int)

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.samples]

    @property
    def demo(self) -> bool:
        return all(s.synthetic for s in self.samples)


def plan_run(
    config: TrainConfig,
    dataset_paths: list[Path],
    run_dir: Path,
    backbone_weights: Path | None,
    command: str,
    overwrite: bool = False,
) -> Plan:
    """Read and check datasets, splits and paths; raises UserError before anything is written.

    TensorFlow-free, so these mistakes are reported in a second; the weights file's content is checked by
    `run.execute` before its first write.
    """
    run_dir = Path(run_dir)
    if (run_dir / RESULTS_FILE).exists() and not overwrite:
        raise UserError(f"{run_dir}: already holds a finished run ({RESULTS_FILE}); choose another -o or --overwrite")
    samples, datasets = load_datasets([Path(p) for p in dataset_paths])
    train_only = _train_only_mask(config, samples, len(datasets))
    labels = np.array([s.label for s in samples])
    groups = np.array([s.group for s in samples])
    ev = config.evaluation
    folds = make_folds(
        labels,
        groups,
        scheme=ev.scheme,
        folds=ev.folds,
        test_fraction=ev.test_fraction,
        validation_fraction=ev.validation_fraction,
        seed=config.seed,
        train_only=train_only,
    )
    split_check = check_leakage(folds, groups)
    if backbone_weights is not None and not Path(backbone_weights).is_file():
        raise UserError(f"{backbone_weights}: backbone weights file not found")
    return Plan(config, samples, datasets, folds, split_check, backbone_weights, run_dir, command)


def _train_only_mask(config: TrainConfig, samples: list[Sample], n_datasets: int) -> np.ndarray:
    indexes = config.evaluation.train_only_datasets
    bad = [i for i in indexes if not 0 <= i < n_datasets]
    if bad:
        raise UserError(
            f"evaluation.train_only_datasets: {bad} is out of range: {n_datasets} --dataset file(s) given "
            f"(indexes 0..{n_datasets - 1}); the M-PAIN+iCOPE preset needs two --dataset options"
        )
    if len(set(indexes)) >= n_datasets:
        raise UserError("evaluation.train_only_datasets covers every --dataset: nothing is left to evaluate on")
    return np.array([s.dataset in indexes for s in samples], dtype=bool)
