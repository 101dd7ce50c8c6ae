"""The synthetic end-to-end data pipeline on a small cohort: every stage's output exists and agrees."""

import csv
from pathlib import Path

from training.data.demo import run_demo
from training.data.schema import DATASET_COLUMNS
from training.data.synth.cohort import CohortOptions


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_demo_runs_every_stage_end_to_end(tmp_path: Path) -> None:
    out = run_demo(tmp_path / "demo", CohortOptions(seed=3, crops_per_infant=2, video_seconds=8.0, fps=10))
    plan = rows(out.plan)
    assert plan and all(r["video_id"].startswith("synthetic") for r in plan)
    frames = rows(out.frames / "frames.csv")
    manual = [r for r in frames if r["label_policy"] == "manual"]
    assert manual and all(r["label"] in ("pain", "nonpain") for r in manual)  # labelled from the cue timeline
    assert {r["label"] for r in manual} == {"pain", "nonpain"}  # a DAN 2-4 video is not pain in every frame
    dataset = rows(out.video_dataset / "dataset.csv")
    assert tuple(dataset[0])[: len(DATASET_COLUMNS)] == DATASET_COLUMNS
    no_face = rows(out.video_dataset / "no_face.csv")
    assert len(dataset) + len(no_face) == len(frames)  # no frame silently dropped
    assert len(dataset) >= 0.95 * len(frames)
    assert {r["source"] for r in dataset} == {"synthetic"}
    assert {r["label"] for r in dataset} == {"pain", "nonpain"}
    assert "mediapipe-short" in out.detector_table.read_text()
    assert list(out.label_sheet.glob("contact_*.jpg"))
