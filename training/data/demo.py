"""The synthetic end-to-end data pipeline (`painwatch data demo`, run by `make run`).

It plays every step an engineer runs on real recordings, on the SYNTHETIC cohort (never clinical data):
synth -> plan -> extract -> label-sheet -> labels -> label-import -> crop -> compare-detectors.
The professional's per-frame labels of `manual` videos are filled from the cohort's own cue timeline,
the synthetic ground truth, and the file says so.
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from service.files import write_csv_atomic
from training.data.compare import COMPARISON_MD, compare_detectors
from training.data.crops import crop_frames
from training.data.extract import extract_all, read_plan
from training.data.labels import SHEET_COLUMNS, import_labels, write_label_sheet
from training.data.manifest import read_manifest
from training.data.plan import PlanConfig, build_plan, write_plan
from training.data.schema import SOURCE_SYNTHETIC
from training.data.synth.cohort import MANIFEST_NAME, TIMELINE_NAME, CohortOptions, build_cohort

logger = logging.getLogger(__name__)

FILLED_LABELS = "synthetic_labels_from_cue_timeline.csv"


@dataclass(frozen=True)
class DemoOutputs:
    cohort: Path
    plan: Path
    frames: Path
    label_sheet: Path
    video_dataset: Path
    crop_dataset: Path
    detector_table: Path

    def lines(self) -> list[str]:
        return [
            f"synthetic cohort (crops, masks, videos, DAN manifest): {self.cohort}",
            f"extraction plan:                 {self.plan}",
            f"extracted frames + frames.csv:   {self.frames}",
            f"label sheet + contact sheets:    {self.label_sheet}",
            f"dataset from the videos:         {self.video_dataset / 'dataset.csv'}",
            f"dataset of synthetic stills:     {self.crop_dataset / 'dataset.csv'}",
            f"detector comparison (Table 4.1): {self.detector_table}",
        ]


def run_demo(out_dir: Path, options: CohortOptions | None = None) -> DemoOutputs:
    """Run the whole pipeline into `out_dir` (replaced if it exists: the demo owns it)."""
    options = options or CohortOptions()
    out_dir, models_dir = Path(out_dir), options.models_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    cohort = out_dir / "synthetic_cohort"
    summary = build_cohort(cohort, options)
    logger.info("%s", summary.line())

    plan = out_dir / "synthetic_plan.csv"
    write_plan(build_plan(read_manifest(cohort / MANIFEST_NAME), PlanConfig()), plan)

    frames = out_dir / "synthetic_frames"
    extracted = extract_all(read_plan(plan), frames)
    logger.info("extracted %d frames from %d videos", extracted.total_frames, len(extracted.extracted))

    sheet = write_label_sheet(frames, out_dir / "synthetic_label_sheet")
    filled = sheet.csv_path.with_name(FILLED_LABELS)
    fill_labels_from_timeline(sheet.csv_path, cohort / TIMELINE_NAME, filled)
    labelled, pending = import_labels(frames, filled)
    logger.info("labelled %d manual frames from the synthetic cue timeline (%d pending)", labelled, pending)

    video_dataset = out_dir / "synthetic_video_dataset"
    crops = crop_frames(frames, video_dataset, default_source=SOURCE_SYNTHETIC, models_dir=models_dir)
    logger.info("%s", crops.line())
    compare_detectors(frames, out_dir, models_dir=models_dir)
    return DemoOutputs(
        cohort=cohort,
        plan=plan,
        frames=frames,
        label_sheet=sheet.csv_path.parent,
        video_dataset=video_dataset,
        crop_dataset=cohort / "crops",
        detector_table=out_dir / COMPARISON_MD,
    )


def fill_labels_from_timeline(sheet_csv: Path, timeline_csv: Path, output: Path) -> int:
    """Label each sheet frame `pain` when its time falls inside a cue interval of its video, else `nonpain`."""
    intervals: dict[str, list[tuple[float, float]]] = {}
    with open(timeline_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            intervals.setdefault(row["video_id"], []).append((float(row["start_s"]), float(row["end_s"])))
    with open(sheet_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        t = float(row["timestamp_s"])
        in_cue = any(start <= t < end for start, end in intervals.get(row["video_id"], []))
        row["label"] = "pain" if in_cue else "nonpain"
    return write_csv_atomic(output, SHEET_COLUMNS, rows)
