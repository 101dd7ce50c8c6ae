"""The `--dataset` files as one list of samples, with per-dataset facts for the report and the model card."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import UserError
from training.data.schema import LABELS, SOURCE_SYNTHETIC
from training.model.check_crops import read_dataset

logger = logging.getLogger(__name__)

MASK_COLUMN = "mask_path"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    """Index into LABELS (1 = pain)."""
    group: str
    """`<dataset name>/<infant_id>`: infants of different datasets never share a group."""
    dataset: int
    """0-based position of the dataset in --dataset order."""
    synthetic: bool
    mask_path: Path | None


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    csv_path: Path
    infants: int
    frames: int
    class_balance: dict[str, int]
    synthetic: bool
    has_masks: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "csv_path": str(self.csv_path),
            "infants": self.infants,
            "frames": self.frames,
            "class_balance": self.class_balance,
            "synthetic": self.synthetic,
            "has_cue_masks": self.has_masks,
        }


def load_datasets(csv_paths: list[Path]) -> tuple[list[Sample], list[DatasetInfo]]:
    """Read every dataset.csv; a missing file, bad column or one-class dataset is a UserError."""
    if not csv_paths:
        raise UserError("give at least one --dataset (a dataset.csv from `painwatch data crops`)")
    samples: list[Sample] = []
    infos: list[DatasetInfo] = []
    names: set[str] = set()
    for index, csv_path in enumerate(csv_paths):
        name = _unique_name(Path(csv_path), names)
        names.add(name)
        dataset_samples = _read_one(Path(csv_path), name, index)
        infos.append(_describe(Path(csv_path), name, dataset_samples))
        samples.extend(dataset_samples)
    return samples, infos


def _unique_name(csv_path: Path, taken: set[str]) -> str:
    # The folder name says which dataset it is (mpain/dataset.csv); the stem is the fallback.
    base = csv_path.parent.name or csv_path.stem
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base}_{counter}", counter + 1
    return name


def _read_one(csv_path: Path, name: str, index: int) -> list[Sample]:
    rows = read_dataset(csv_path)  # validates file, columns and labels
    with open(csv_path, newline="", encoding="utf-8") as handle:
        extras = [(record.get("source", ""), record.get(MASK_COLUMN) or "") for record in csv.DictReader(handle)]
    samples = [
        Sample(
            path=row.path,
            label=row.label,
            group=f"{name}/{row.infant_id}",
            dataset=index,
            synthetic=source == SOURCE_SYNTHETIC,
            mask_path=csv_path.parent / mask if mask else None,
        )
        for row, (source, mask) in zip(rows, extras, strict=True)
    ]
    counts = Counter(s.label for s in samples)
    if len(counts) < 2:
        only = LABELS[next(iter(counts))]
        raise UserError(
            f"{csv_path}: every crop is labelled {only!r} ({len(samples)} crops); training and evaluation need "
            f"both {LABELS[0]!r} and {LABELS[1]!r} crops"
        )
    return samples


def _describe(csv_path: Path, name: str, samples: list[Sample]) -> DatasetInfo:
    counts = Counter(s.label for s in samples)
    return DatasetInfo(
        name=name,
        csv_path=csv_path,
        infants=len({s.group for s in samples}),
        frames=len(samples),
        class_balance={label: counts.get(i, 0) for i, label in enumerate(LABELS)},
        synthetic=all(s.synthetic for s in samples),
        has_masks=any(s.mask_path is not None for s in samples),
    )
