"""`painwatch data import-images`: pre-cropped face images (iCOPE-like) -> the same dataset.csv layout."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from service.errors import ValidationErrors
from service.vision.images import read_rgb, write_rgb
from training.data.images import import_images, read_labels
from training.data.schema import DATASET_COLUMNS

PAINWATCH = str(Path(sys.executable).with_name("painwatch"))


def face_image(width: int, height: int) -> np.ndarray:
    """The astronaut's face (about x 177, y 82, 95x95) cut out with some context, as an iCOPE-like still."""
    return np.ascontiguousarray(data.astronaut()[60 : 60 + height, 150 : 150 + width])


def write_labels(path: Path, lines: list[str]) -> Path:
    path.write_text("path,subject_id,label\n" + "".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "icope"
    write_rgb(folder / "S01/pain_001.png", face_image(150, 150))
    write_rgb(folder / "S01/rest_001.jpg", face_image(150, 200))  # tall: centre square
    write_rgb(folder / "S02/pain_001.png", face_image(180, 120))  # wide: centre square
    return folder


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_import_writes_the_dataset_layout(image_folder: Path, tmp_path: Path) -> None:
    labels = write_labels(
        tmp_path / "labels.csv",
        ["S01/pain_001.png,S01,pain", "S01/rest_001.jpg,S01,0", "S02/pain_001.png,S02,1"],
    )
    out = tmp_path / "ds"
    assert import_images(image_folder, labels, out, name="icope", size=112, show_progress=False) == 3
    header, rows = read_rows(out / "dataset.csv")
    assert header == list(DATASET_COLUMNS)
    assert [(r["frame_id"], r["infant_id"], r["label"]) for r in rows] == [
        ("icope_S01_pain_001", "icope_S01", "pain"),
        ("icope_S01_rest_001", "icope_S01", "nonpain"),
        ("icope_S02_pain_001", "icope_S02", "pain"),
    ]
    assert {(r["detector"], r["video_id"], r["source"]) for r in rows} == {("none (pre-cropped)", "", "icope")}
    # square regions: the whole square image, then the centre squares of the tall and wide ones
    assert [tuple(int(r[k]) for k in "xywh") for r in rows] == [
        (0, 0, 150, 150),
        (0, 25, 150, 150),
        (30, 0, 120, 120),
    ]
    for row in rows:
        crop = read_rgb(out / row["crop_path"])
        assert crop.shape == (112, 112, 3)
    # the tall image's crop is its centre square, resized (JPEG is lossy, so compare within a tolerance)
    expected = cv2.resize(face_image(150, 200)[25:175], (112, 112), interpolation=cv2.INTER_AREA)
    crop = read_rgb(out / rows[1]["crop_path"])
    assert np.abs(crop.astype(float) - expected).mean() < 3.0
    assert np.abs(crop.astype(float) - cv2.resize(face_image(150, 200)[:150], (112, 112))).mean() > 10.0


def test_every_bad_line_is_reported_with_its_number(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    labels = write_labels(
        tmp_path / "labels.csv",
        [
            "S01/pain_001.png,S01,pain",
            "S01/pain_001.png,S01,pain",
            "S01/rest_001.jpg,S01,maybe",
            "S09/none.png,S09,pain",
            "broken.jpg,S03,nonpain",
            "S02/pain_001.png,,pain",
        ],
    )
    out = tmp_path / "ds"
    with pytest.raises(ValidationErrors) as info:
        import_images(image_folder, labels, out, show_progress=False)
    assert info.value.problems == [
        "line 3: duplicate path 'S01/pain_001.png' (first on line 2)",
        "line 4: unknown label 'maybe' (expected nonpain, pain, 1 or 0)",
        f"line 5: image file {image_folder / 'S09/none.png'} not found",
        f"line 6: {image_folder / 'broken.jpg'}: not a readable image",
        "line 7: empty subject_id",
    ]
    assert not out.exists()


def test_labels_are_case_insensitive(image_folder: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "l.csv", ["S01/pain_001.png,S01,PAIN", "S02/pain_001.png,S02,NonPain"])
    assert [r.label for r in read_labels(image_folder, labels)] == ["pain", "nonpain"]


def test_combined_with_a_cropped_dataset_the_columns_line_up(image_folder: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "l.csv", ["S01/pain_001.png,S01,pain"])
    import_images(image_folder, labels, tmp_path / "a", name="icope", show_progress=False)
    import_images(image_folder, labels, tmp_path / "b", name="other", show_progress=False)
    (_, a), (_, b) = read_rows(tmp_path / "a/dataset.csv"), read_rows(tmp_path / "b/dataset.csv")
    assert a[0]["frame_id"] != b[0]["frame_id"] and a[0]["infant_id"] != b[0]["infant_id"]


@pytest.mark.parametrize(
    ("labels_text", "expected"),
    [
        ("path,subject,label\nS01/pain_001.png,S01,pain\n", "missing column(s) subject_id"),
        ("path,subject_id,label\n", "no data rows"),
        (None, "file not found"),
    ],
)
def test_cli_bad_labels_exit_2_and_write_nothing(
    image_folder: Path, tmp_path: Path, labels_text: str | None, expected: str
) -> None:
    labels = tmp_path / "labels.csv"
    if labels_text is not None:
        labels.write_text(labels_text)
    out = tmp_path / "ds"
    result = subprocess.run(
        [PAINWATCH, "data", "import-images", str(image_folder), "--labels", str(labels), "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert not out.exists()


def test_cli_import_images(image_folder: Path, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "l.csv", ["S01/pain_001.png,S01,pain", "S02/pain_001.png,S02,0"])
    result = subprocess.run(
        [PAINWATCH, "data", "import-images", str(image_folder), "--labels", str(labels),
         "-o", str(tmp_path / "o"), "--name", "icope"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 crops" in result.stdout
    assert len(read_rows(tmp_path / "o/dataset.csv")[1]) == 2
