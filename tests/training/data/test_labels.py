import csv
from pathlib import Path

import pytest

from service.errors import UserError, ValidationErrors
from service.vision.images import read_rgb
from training.data.extract import PlannedVideo, extract_all
from training.data.labels import SHEET_COLUMNS, import_labels, write_label_sheet


@pytest.fixture
def frames_dir(tmp_path: Path, make_video) -> Path:  # type: ignore[no-untyped-def]
    calm = make_video("calm.mp4", seconds=4, fps=10)
    pain = make_video("pain.mp4", seconds=5, fps=10)
    out = tmp_path / "frames"
    extract_all(
        [
            PlannedVideo("calm", "i1", calm, "nonpain", 1.0, None, 0.0, None),
            PlannedVideo("pain", "i2", pain, "manual", 1.0, None, 0.0, None),
        ],
        out,
    )
    return out


def frames(folder: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(folder / "frames.csv")))


def test_sheet_lists_only_pending_manual_frames_with_contact_sheet(frames_dir: Path, tmp_path: Path) -> None:
    result = write_label_sheet(frames_dir, tmp_path / "sheet")
    rows = list(csv.DictReader(open(result.csv_path)))
    assert tuple(rows[0]) == SHEET_COLUMNS
    assert [r["video_id"] for r in rows] == ["pain"] * 5
    assert all(r["label"] == "" for r in rows)
    [sheet] = result.contact_sheets
    image = read_rgb(sheet)
    assert image.shape[1] == 5 * 200 and image.shape[0] > 200
    assert image[:100, :200].mean() < 20  # the first thumbnail (a black frame) was drawn on the white sheet


def test_import_merges_labels_and_keeps_pending(frames_dir: Path, tmp_path: Path) -> None:
    result = write_label_sheet(frames_dir, tmp_path / "sheet")
    rows = list(csv.DictReader(open(result.csv_path)))
    for row, label in zip(rows, ["pain", "Pain", "nonpain", "", "pain"], strict=True):
        row["label"] = label
    with open(result.csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    labelled, pending = import_labels(frames_dir, result.csv_path)
    assert (labelled, pending) == (4, 1)
    merged = {r["frame_id"]: r["label"] for r in frames(frames_dir) if r["video_id"] == "pain"}
    assert list(merged.values()) == ["pain", "pain", "nonpain", "", "pain"]
    assert {r["label"] for r in frames(frames_dir) if r["video_id"] == "calm"} == {"nonpain"}


def test_import_reports_every_bad_line_and_writes_nothing(frames_dir: Path, tmp_path: Path) -> None:
    pain_ids = [r["frame_id"] for r in frames(frames_dir) if r["video_id"] == "pain"]
    calm_id = next(r["frame_id"] for r in frames(frames_dir) if r["video_id"] == "calm")
    filled = tmp_path / "filled.csv"
    filled.write_text(
        "frame_id,label\n"
        f"{pain_ids[0]},pain\n"
        "no_such_frame,pain\n"
        f"{pain_ids[0]},nonpain\n"
        f"{pain_ids[1]},maybe\n"
        f"{calm_id},pain\n"
    )
    before = (frames_dir / "frames.csv").read_bytes()
    with pytest.raises(ValidationErrors) as caught:
        import_labels(frames_dir, filled)
    assert caught.value.problems == [
        "line 3: unknown frame id 'no_such_frame' (not in frames.csv)",
        f"line 4: frame {pain_ids[0]!r} labelled twice (first on line 2)",
        f"line 5: label 'maybe' for {pain_ids[1]!r} must be one of nonpain, pain",
        f"line 6: frame {calm_id!r} comes from a `nonpain` video; only `manual` frames are labelled by hand",
    ]
    assert (frames_dir / "frames.csv").read_bytes() == before


def test_sheet_without_manual_frames_is_a_clear_error(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    calm = make_video("calm.mp4", seconds=2, fps=10)
    extract_all([PlannedVideo("calm", "i1", calm, "nonpain", 1.0, None, 0.0, None)], tmp_path / "f")
    with pytest.raises(UserError, match="no `manual` frame is waiting for a label"):
        write_label_sheet(tmp_path / "f", tmp_path / "sheet")
    with pytest.raises(UserError, match="frames.csv: not found; run `painwatch data extract"):
        write_label_sheet(tmp_path / "nowhere", tmp_path / "sheet")
