"""`painwatch data compare-detectors`: Table 4.1 (no-face % and ms per frame) on a frame set."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from service.errors import UserError
from service.vision.images import write_rgb
from tests.support.detectors import require_detector_models
from training.data.compare import (
    COMPARISON_COLUMNS,
    DetectorResult,
    compare_detectors,
    list_frames,
    markdown_table,
)

PAINWATCH = str(Path(sys.executable).with_name("painwatch"))


def face_frame(dx: int, dy: int) -> np.ndarray:
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[dy : dy + 300, dx : dx + 300] = data.astronaut()[0:300, 60:360]
    return frame


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A plain folder of stills (no frames.csv): three faces and one blank frame."""
    folder = tmp_path / "stills"
    for i, (dx, dy) in enumerate([(10, 10), (200, 120), (320, 170)]):
        write_rgb(folder / f"face_{i}.jpg", face_frame(dx, dy))
    write_rgb(folder / "sub" / "blank.png", np.full((480, 640, 3), 90, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_list_frames_of_a_plain_folder(image_folder: Path) -> None:
    names = [p.relative_to(image_folder).as_posix() for p in list_frames(image_folder)]
    assert names == ["face_0.jpg", "face_1.jpg", "face_2.jpg", "sub/blank.png"]


def test_list_frames_from_frames_csv(tmp_path: Path) -> None:
    (tmp_path / "frames.csv").write_text("frame_id,frame_path,label\na,x/a.jpg,\nb,b.jpg,pain\n")
    assert list_frames(tmp_path) == [tmp_path / "x/a.jpg", tmp_path / "b.jpg"]


def test_empty_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no frames"):
        list_frames(tmp_path)


def test_haar_comparison_counts_no_face_and_times(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    [result] = compare_detectors(image_folder, out, ["opencv-haar"], show_progress=False)
    assert (result.detector, result.frames, result.no_face, result.unreadable) == ("opencv-haar", 4, 1, 0)
    assert result.no_face_pct == pytest.approx(25.0)
    assert 0.0 < result.median_ms < 5000.0 and 0.0 < result.mean_ms < 5000.0

    header, rows = read_csv(out / "detector_comparison.csv")
    assert header == list(COMPARISON_COLUMNS)
    assert rows[0]["detector"] == "opencv-haar" and rows[0]["no_face_pct"] == "25.00"
    md = (out / "detector_comparison.md").read_text()
    assert "| Detector | Frames | No face | No face % | Mean ms/frame | Median ms/frame |" in md
    assert "| opencv-haar | 4 | 1 | 25.00 |" in md


def test_all_detectors_default_output_beside_the_frames(image_folder: Path) -> None:
    require_detector_models()
    results = compare_detectors(image_folder, show_progress=False)
    assert [r.detector for r in results] == ["mediapipe-short", "mediapipe-full", "opencv-haar"]
    assert [r.no_face for r in results] == [1, 1, 1]
    assert (image_folder / "detector_comparison.csv").is_file()
    assert (image_folder / "detector_comparison.md").is_file()


def test_unreadable_frames_are_counted_apart(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "broken.jpg").write_bytes(b"garbage")
    [result] = compare_detectors(image_folder, tmp_path / "r", ["opencv-haar"], show_progress=False)
    assert (result.frames, result.unreadable, result.no_face) == (4, 1, 1)


def test_unknown_detector_fails_before_any_work(image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown face detector"):
        compare_detectors(image_folder, tmp_path / "r", ["opencv-haar", "nope"], show_progress=False)
    assert not (tmp_path / "r").exists()


def test_markdown_table_values() -> None:
    table = markdown_table([DetectorResult("x", 200, 3, 5.0, 4.5, 0)])
    assert table.splitlines()[-1] == "| x | 200 | 3 | 1.50 | 5.00 | 4.50 |"


def test_cli_prints_the_table_and_bad_input_exits_2(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    ok = subprocess.run(
        [PAINWATCH, "data", "compare-detectors", str(image_folder), "-o", str(out),
         "--detectors", "opencv-haar"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "| opencv-haar | 4 | 1 | 25.00 |" in ok.stdout
    assert (out / "detector_comparison.md").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(
        [PAINWATCH, "data", "compare-detectors", str(empty), "-o", str(tmp_path / "r2")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "no frames" in bad.stderr
    assert not (tmp_path / "r2").exists()
