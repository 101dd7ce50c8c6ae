"""`painwatch data crop` on a small frames folder of real face photographs built by the test."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from service.errors import UserError, ValidationErrors
from service.main import _app
from service.vision.crop import CropSpec
from service.vision.detectors import best_face, create_detector
from service.vision.images import read_rgb, write_rgb
from tests.support.detectors import require_detector_models
from training.data.crops import crop_frames, read_frames, safe_name
from training.data.schema import DATASET_COLUMNS, FRAMES_COLUMNS, NO_FACE_COLUMNS

PAINWATCH = str(Path(sys.executable).with_name("painwatch"))
# skimage's astronaut: face at about x 177, y 82, 95x95. The patch below keeps it whole.
PATCH_X0, PATCH_Y0 = 60, 0
FACE_X, FACE_Y, FACE_SIDE = 177 - PATCH_X0, 82 - PATCH_Y0, 95


def face_frame(dx: int, dy: int) -> np.ndarray:
    """A 640x480 frame with the astronaut's head at offset (dx, dy) on a grey background."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    patch = data.astronaut()[PATCH_Y0 : PATCH_Y0 + 300, PATCH_X0 : PATCH_X0 + 300]
    frame[dy : dy + 300, dx : dx + 300] = patch
    return frame


def make_frames_dir(root: Path, rows: list[dict[str, str]], images: dict[str, np.ndarray]) -> Path:
    frames_dir = root / "frames"
    for rel, rgb in images.items():
        write_rgb(frames_dir / rel, rgb)
    frames_dir.mkdir(parents=True, exist_ok=True)
    with open(frames_dir / "frames.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else list(FRAMES_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return frames_dir


def frame_row(frame_id: str, label: str, infant: str = "inf01", video: str = "v01") -> dict[str, str]:
    return {
        "frame_id": frame_id, "video_id": video, "infant_id": infant, "frame_path": f"{video}/{frame_id}.jpg",
        "timestamp_s": "0.0", "frame_index": "0", "label": label,
        "label_policy": "nonpain" if label else "manual",
    }  # fmt: skip


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    """Three face frames (pain/nonpain), one blank frame, one unlabelled face frame."""
    offsets = {"f0": (20, 30), "f1": (200, 100), "f2": (330, 170)}
    rows = [frame_row("f0", "pain"), frame_row("f1", "nonpain"), frame_row("f2", "pain", infant="inf02")]
    rows += [frame_row("blank", "nonpain"), frame_row("later", "")]
    images = {f"v01/{fid}.jpg": face_frame(*off) for fid, off in offsets.items()}
    images["v01/blank.jpg"] = np.full((480, 640, 3), 90, np.uint8)
    images["v01/later.jpg"] = face_frame(100, 50)
    return make_frames_dir(tmp_path, rows, images)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("detector", ["opencv-haar", "mediapipe-short"])
def test_crop_writes_crops_dataset_and_no_face(frames_dir: Path, tmp_path: Path, detector: str) -> None:
    if detector.startswith("mediapipe"):
        require_detector_models()
    out = tmp_path / "dataset"
    summary = crop_frames(frames_dir, out, detector, CropSpec(size=224, margin=0.2), show_progress=False)
    assert (summary.crops, summary.no_face, summary.skipped_unlabelled) == (3, 1, 1)
    assert summary.no_face_pct == pytest.approx(25.0)

    header, rows = read_csv(out / "dataset.csv")
    assert header == list(DATASET_COLUMNS)
    by_id = {r["frame_id"]: r for r in rows}
    assert sorted(by_id) == ["f0", "f1", "f2"]
    assert [by_id[f]["label"] for f in ("f0", "f1", "f2")] == ["pain", "nonpain", "pain"]
    assert by_id["f2"]["infant_id"] == "inf02" and by_id["f0"]["video_id"] == "v01"
    assert {r["detector"] for r in rows} == {detector}
    assert {r["source"] for r in rows} == {"video"}  # frames.csv has no source column
    offsets = {"f0": (20, 30), "f1": (200, 100), "f2": (330, 170)}
    for frame_id, (dx, dy) in offsets.items():
        row = by_id[frame_id]
        x, y, w, h = (int(row[k]) for k in "xywh")
        assert w == h  # the square crop region
        face_x, face_y = FACE_X + dx, FACE_Y + dy
        # the region contains the known face box (detectors differ by a few pixels, hence the slack)
        assert x <= face_x + 8 and y <= face_y + 8
        assert x + w >= face_x + FACE_SIDE - 8 and y + h >= face_y + FACE_SIDE - 8
        assert 0.5 <= float(row["score"]) <= 1.0
        crop = read_rgb(out / row["crop_path"])
        assert crop.shape == (224, 224, 3)
        assert row["crop_path"] == f"crops/{row['label']}/{frame_id}.jpg"

    header, no_face = read_csv(out / "no_face.csv")
    assert header == list(NO_FACE_COLUMNS)
    assert no_face == [
        {"frame_id": "blank", "frame_path": "v01/blank.jpg", "video_id": "v01", "infant_id": "inf01",
         "reason": f"no face detected by {detector}"}
    ]  # fmt: skip
    assert not list(tmp_path.glob(".dataset.*"))  # the temporary build folder is gone


def test_crops_are_faces_again(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    crop_frames(frames_dir, out, "opencv-haar", show_progress=False)
    detector = create_detector("opencv-haar")
    try:
        for crop_file in sorted((out / "crops").rglob("*.jpg")):
            face = best_face(detector.detect(read_rgb(crop_file)))
            assert face is not None, crop_file
            assert face.w > 224 / 2  # the face fills most of the crop (margin 0.2 -> about 160 px)
    finally:
        detector.close()


def test_unreadable_and_missing_frames_are_recorded_with_a_reason(tmp_path: Path) -> None:
    rows = [frame_row("ok", "pain"), frame_row("corrupt", "pain"), frame_row("gone", "nonpain")]
    frames_dir = make_frames_dir(tmp_path, rows, {"v01/ok.jpg": face_frame(50, 50)})
    (frames_dir / "v01/corrupt.jpg").write_bytes(b"not a jpeg")
    summary = crop_frames(frames_dir, tmp_path / "out", "opencv-haar", show_progress=False)
    assert (summary.crops, summary.no_face) == (1, 2)
    _, no_face = read_csv(tmp_path / "out" / "no_face.csv")
    assert {r["frame_id"]: r["reason"] for r in no_face} == {
        "corrupt": "unreadable image",
        "gone": "image file not found",
    }


def test_source_column_and_option(tmp_path: Path) -> None:
    rows = [{**frame_row("a", "pain"), "source": "videodol"}]
    frames_dir = make_frames_dir(tmp_path, rows, {"v01/a.jpg": face_frame(40, 40)})
    crop_frames(frames_dir, tmp_path / "with-col", "opencv-haar", show_progress=False)
    assert read_csv(tmp_path / "with-col" / "dataset.csv")[1][0]["source"] == "videodol"

    plain = make_frames_dir(tmp_path / "p", [frame_row("a", "pain")], {"v01/a.jpg": face_frame(40, 40)})
    crop_frames(plain, tmp_path / "opt", "opencv-haar", default_source="mpain", show_progress=False)
    assert read_csv(tmp_path / "opt" / "dataset.csv")[1][0]["source"] == "mpain"


def test_existing_output_is_refused_unless_forced(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(UserError, match="--force"):
        crop_frames(frames_dir, out, "opencv-haar", show_progress=False)
    assert (out / "keep.txt").read_text() == "old"
    crop_frames(frames_dir, out, "opencv-haar", force=True, show_progress=False)
    assert not (out / "keep.txt").exists() and (out / "dataset.csv").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # an empty existing folder is fine without --force
    empty = tmp_path / "empty"
    empty.mkdir()
    crop_frames(frames_dir, empty, "opencv-haar", show_progress=False)
    assert (empty / "dataset.csv").is_file()


def test_frames_csv_problems_are_reported_together(tmp_path: Path) -> None:
    rows = [frame_row("a", "pain"), frame_row("a", "ouch"), {**frame_row("c", "pain"), "frame_path": ""}]
    frames_dir = make_frames_dir(tmp_path, rows, {})
    with pytest.raises(ValidationErrors) as info:
        read_frames(frames_dir)
    assert info.value.problems == [
        "line 3: duplicate frame_id 'a' (first on line 2)",
        "line 3: unknown label 'ouch' (expected nonpain or pain, or empty)",
        "line 4: empty frame_path",
    ]


def test_safe_name() -> None:
    assert safe_name("v01/frame 0003") == "v01_frame_0003"
    assert safe_name("../x") == "x"


# --- the command line: bad input exits 2 and writes nothing ---------------------------------------


def run_painwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAINWATCH, *args], capture_output=True, text=True, timeout=120, check=False)


def test_cli_crop_end_to_end(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = CliRunner().invoke(_app, ["data", "crop", str(frames_dir), "-o", str(out), "--detector", "opencv-haar"])
    assert result.exit_code == 0, result.output
    assert "3 crops, 1 frames without a face (25.0%), 1 unlabelled frames skipped" in result.output
    assert "painwatch data label-import" in result.output
    assert len(read_csv(out / "dataset.csv")[1]) == 3


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing-csv", "has no frames.csv"),
        ("wrong-column", "missing column(s) frame_path"),
        ("empty-folder", "has no frames.csv"),
        ("header-only", "no data rows"),
        ("no-folder", "frames folder not found"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path: Path, setup: str, expected: str) -> None:
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    if setup == "missing-csv":
        write_rgb(frames_dir / "a.jpg", face_frame(0, 0))
    elif setup == "wrong-column":
        (frames_dir / "frames.csv").write_text("frame_id,video_id,infant_id,path,label\na,v,i,a.jpg,pain\n")
    elif setup == "header-only":
        (frames_dir / "frames.csv").write_text(",".join(FRAMES_COLUMNS) + "\n")
    elif setup == "no-folder":
        frames_dir.rmdir()
    out = tmp_path / "out"
    result = run_painwatch("data", "crop", str(frames_dir), "-o", str(out), "--detector", "opencv-haar")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    if setup == "wrong-column":
        assert "expected columns: frame_id, video_id" in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["frames"] if setup != "no-folder" else [])


def test_cli_unknown_detector_exits_2(frames_dir: Path, tmp_path: Path) -> None:
    result = run_painwatch("data", "crop", str(frames_dir), "-o", str(tmp_path / "out"), "--detector", "yolo")
    assert result.returncode == 2
    assert "unknown face detector 'yolo'" in result.stderr and "mediapipe-short" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_models_exits_2_naming_the_fetch_command(frames_dir: Path, tmp_path: Path) -> None:
    result = run_painwatch(
        "data", "crop", str(frames_dir), "-o", str(tmp_path / "out"), "--models-dir", str(tmp_path / "none")
    )
    assert result.returncode == 2
    assert "painwatch models fetch-detectors" in result.stderr
    assert not (tmp_path / "out").exists()
