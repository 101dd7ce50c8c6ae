"""Column layouts of the CSV files that flow through the data pipeline (one definition, used everywhere)."""

from __future__ import annotations

from typing import Final

LABELS: Final = ("nonpain", "pain")
"""Class names; the index is the model's class index (1 = pain, the positive class)."""

SOURCE_SYNTHETIC: Final = "synthetic"

PLAN_COLUMNS: Final = (
    "video_id", "infant_id", "scale", "face_score", "included", "reason",
    "label_policy", "sample_fps", "max_seconds", "path", "window_start_s", "window_end_s",
)  # fmt: skip
"""`painwatch data plan` output; one row per video. label_policy: nonpain | pain | manual | "" (excluded)."""

FRAMES_COLUMNS: Final = (
    "frame_id", "video_id", "infant_id", "frame_path", "timestamp_s", "frame_index", "label", "label_policy",
)  # fmt: skip
"""`frames.csv` written by `painwatch data extract` in FRAMES_DIR. frame_path is relative to FRAMES_DIR;
timestamp_s is the decoded frame's own presentation time; label is empty until a `manual` frame is labelled."""

DATASET_COLUMNS: Final = (
    "crop_path", "frame_id", "video_id", "infant_id", "label", "detector", "score", "x", "y", "w", "h", "source",
)  # fmt: skip
"""`dataset.csv`: one row per face crop. crop_path is relative to the CSV's folder; x, y, w, h is the
square crop region in the source frame (pixels); source says where the data came from (e.g. `synthetic`).
Extra columns (e.g. `mask_path` of the synthetic cohort) may follow and are ignored by readers that do not
know them."""

NO_FACE_COLUMNS: Final = ("frame_id", "frame_path", "video_id", "infant_id", "reason")
"""`no_face.csv` beside dataset.csv: every frame that gave no crop, with why."""
