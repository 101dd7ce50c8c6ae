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
CUE_MASK_COLUMN = "cue_mask_path"
FACE_SOURCE_COLUMN = "face_source"


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
    cue_mask_path: Path | None = None
    """Per-cue label mask (synthetic cohort: pixel = OR of the cues' bits), or None."""
    infant_id: str = ""


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
        records = list(csv.DictReader(handle))
    groups = face_groups([row.infant_id for row in rows], [r.get(FACE_SOURCE_COLUMN) or "" for r in records])
    samples = [
        Sample(
            path=row.path,
            label=row.label,
            group=f"{name}/{group}",
            dataset=index,
            synthetic=record.get("source", "") == SOURCE_SYNTHETIC,
            mask_path=_optional_path(csv_path, record.get(MASK_COLUMN)),
            cue_mask_path=_optional_path(csv_path, record.get(CUE_MASK_COLUMN)),
            infant_id=row.infant_id,
        )
        for row, record, group in zip(rows, records, groups, strict=True)
    ]
    counts = Counter(s.label for s in samples)
    if len(counts) < 2:
        only = LABELS[next(iter(counts))]
        raise UserError(
            f"{csv_path}: every crop is labelled {only!r} ({len(samples)} crops); training and evaluation need "
            f"both {LABELS[0]!r} and {LABELS[1]!r} crops"
        )
    return samples


def _optional_path(csv_path: Path, value: str | None) -> Path | None:
    return csv_path.parent / value if value else None


def face_groups(infant_ids: list[str], face_sources: list[str]) -> list[str]:
    """The cross-validation group of each row: everything that identifies a face, joined.

    Rows of one infant share a group; so do rows whose face comes from one photograph (`face_source`, the
    synthetic cohort's base photo), so no face is in two of train/validation/test. Groups are the connected
    components of infants linked by a shared face source, named by their first infant (`+N` more infants)
    plus the face sources (`infant-01+3@astronaut`). Without face sources the group is the infant id.
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for infant, source in zip(infant_ids, face_sources, strict=True):
        find(f"i:{infant}")
        if source:
            a, b = find(f"i:{infant}"), find(f"f:{source}")
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for key in parent:
        members.setdefault(find(key), []).append(key)
    names: dict[str, str] = {}
    for root, keys in members.items():
        infants = sorted(k[2:] for k in keys if k.startswith("i:"))
        sources = sorted(k[2:] for k in keys if k.startswith("f:"))
        if not sources:
            names[root] = infants[0]
        else:
            more = f"+{len(infants) - 1}" if len(infants) > 1 else ""
            names[root] = f"{infants[0]}{more}@{'+'.join(sources)}"
    return [names[find(f"i:{infant}")] for infant in infant_ids]


def _describe(csv_path: Path, name: str, samples: list[Sample]) -> DatasetInfo:
    counts = Counter(s.label for s in samples)
    return DatasetInfo(
        name=name,
        csv_path=csv_path,
        infants=len({s.infant_id for s in samples}),
        frames=len(samples),
        class_balance={label: counts.get(i, 0) for i, label in enumerate(LABELS)},
        synthetic=all(s.synthetic for s in samples),
        has_masks=any(s.mask_path is not None for s in samples),
    )
