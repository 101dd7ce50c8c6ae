"""The whole synthetic cohort: default build, determinism, naming, masks, DAN scores, detection rate, CLI."""

from __future__ import annotations

import csv
import filecmp
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.vision.detectors import best_face, create_detector
from training.data.schema import DATASET_COLUMNS, NO_FACE_COLUMNS
from training.data.synth import CohortOptions, CohortSummary, build_cohort
from training.data.synth.cohort import MANIFEST_COLUMNS, MANIFEST_NAME, README_NAME, TIMELINE_NAME
from training.data.synth.timeline import dan_face_score

SMALL = CohortOptions(seed=3, infants=12, crops_per_infant=3, video_seconds=6.0, fps=5)
FIXED_NAMES = {README_NAME, "dataset.csv", "no_face.csv", "crops", "videos"}
PAINWATCH = Path(sys.executable).parent / "painwatch"


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> CohortSummary:
    return build_cohort(tmp_path_factory.mktemp("default") / "cohort")


@pytest.fixture(scope="module")
def small_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first = build_cohort(tmp_path_factory.mktemp("a") / "cohort", SMALL).out_dir
    second = tmp_path_factory.mktemp("b") / "cohort"
    second.mkdir()
    (second / "old.txt").write_text("replaced by --force")
    build_cohort(second, SMALL, force=True)
    return first, second


def test_default_build_has_twelve_groups_balanced_crops_and_videos(default_build: CohortSummary) -> None:
    out = default_build.out_dir
    dataset = rows(out / "crops" / "dataset.csv")
    assert tuple(dataset[0]) == (*DATASET_COLUMNS, "mask_path", "cue_mask_path", "face_source")
    assert {r["face_source"] for r in dataset} == {"astronaut", "grace_hopper"}  # the packaged photo set
    assert len({r["infant_id"] for r in dataset}) >= 12
    assert 200 <= len(dataset) <= 400
    pain_share = sum(r["label"] == "pain" for r in dataset) / len(dataset)
    assert 0.3 <= pain_share <= 0.4
    assert {r["detector"] for r in dataset} == {"mediapipe-short"}
    assert all(r["w"] == r["h"] for r in dataset)
    manifest = rows(out / MANIFEST_NAME)
    assert tuple(manifest[0]) == MANIFEST_COLUMNS
    assert len({r["infant_id"] for r in manifest}) >= 12
    assert all((out / r["path"]).is_file() for r in manifest)
    assert default_build.seconds < 240  # ~65 s measured on the shared 2-core machine under load
    assert "synthetic" in (out / README_NAME).read_text().lower()
    assert "never be used for clinical" in (out / README_NAME).read_text()


def test_crop_frames_are_detected(default_build: CohortSummary) -> None:
    out = default_build.out_dir
    crops, no_face = rows(out / "crops" / "dataset.csv"), rows(out / "crops" / "no_face.csv")
    assert len(crops) / (len(crops) + len(no_face)) >= 0.95
    assert all((out / "crops" / r["frame_path"]).is_file() for r in no_face)


def test_masks_are_binary_nonempty_exactly_for_pain_and_on_the_face(default_build: CohortSummary) -> None:
    crops_dir = default_build.out_dir / "crops"
    # With a 0.2 margin the detected face fills the centre [1/7, 6/7] of the 224 px crop.
    face = np.zeros((224, 224), bool)
    face[32:192, 32:192] = True
    inside, total = 0, 0
    for row in rows(crops_dir / "dataset.csv"):
        crop = cv2.imread(str(crops_dir / row["crop_path"]))
        mask = cv2.imread(str(crops_dir / row["mask_path"]), cv2.IMREAD_UNCHANGED)
        assert crop is not None and mask is not None
        assert crop.shape == (224, 224, 3) and mask.shape == (224, 224) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        assert mask.any() == (row["label"] == "pain"), row["crop_path"]
        labels = cv2.imread(str(crops_dir / row["cue_mask_path"]), cv2.IMREAD_UNCHANGED)
        assert labels is not None and labels.shape == (224, 224) and labels.max() < 16  # 4 cue bits
        np.testing.assert_array_equal(labels > 0, mask > 0)  # the per-cue masks add up to the union mask
        if mask.any():
            ys, xs = np.nonzero(mask)
            assert 56 <= xs.mean() <= 168 and 56 <= ys.mean() <= 168  # centred on the face
            inside += int(face[ys, xs].sum())
            total += xs.size
    assert inside / total >= 0.9  # brows and eye corners may reach just past MediaPipe's tight box


def test_every_name_and_row_says_synthetic(default_build: CohortSummary) -> None:
    out = default_build.out_dir
    for path in out.rglob("*"):
        assert path.name in FIXED_NAMES or path.name.startswith("synthetic_"), path
    for csv_path in out.rglob("*.csv"):
        for row in rows(csv_path):
            assert any("synthetic" in value for value in row.values()), (csv_path, row)
    no_face = rows(out / "crops" / "no_face.csv")
    assert not no_face or tuple(no_face[0]) == NO_FACE_COLUMNS


def test_dan_face_score_matches_the_cue_timeline(default_build: CohortSummary) -> None:
    out = default_build.out_dir
    manifest = rows(out / MANIFEST_NAME)
    timeline = rows(out / TIMELINE_NAME)
    by_video: dict[str, list[dict[str, str]]] = {}
    for row in manifest:
        by_video.setdefault(row["video_id"], []).append(row)
    assert any(len(r) > 1 for r in by_video.values())  # some videos have a second rater
    scores = set()
    for video_id, ratings in by_video.items():
        start, end = float(ratings[0]["window_start_s"]), float(ratings[0]["window_end_s"])
        covered = sum(
            max(0.0, min(float(t["end_s"]), end) - max(float(t["start_s"]), start))
            for t in timeline
            if t["video_id"] == video_id
        )
        face = max(int(r["face"]) for r in ratings)  # DAN aggregation: max over raters
        assert face == dan_face_score(covered / (end - start)), video_id
        assert all(r["scale"] == "DAN" and r["rater"].startswith("synthetic-rater-") for r in ratings)
        scores.add(face)
    assert scores == {0, 2, 3, 4}


def test_same_seed_gives_identical_csvs_and_images(small_builds: tuple[Path, Path]) -> None:
    first, second = small_builds
    assert not (second / "old.txt").exists()  # --force replaced the old folder
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    for name in ("crops/dataset.csv", "crops/no_face.csv", MANIFEST_NAME, TIMELINE_NAME):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    images = sorted(p.relative_to(first) for p in (first / "crops").glob("synthetic_*"))
    assert len(images) == 3 * 12 * 3  # crop, union mask, per-cue mask
    _match, mismatch, errors = filecmp.cmpfiles(first, second, [str(p) for p in images], shallow=False)
    assert not mismatch and not errors


def test_mediapipe_finds_the_face_in_95_percent_of_video_frames(small_builds: tuple[Path, Path]) -> None:
    cohort = small_builds[0]
    found, total = 0, 0
    for video in sorted((cohort / "videos").glob("synthetic_*.mp4")):
        detector = create_detector("mediapipe-short", mode="video")
        capture = cv2.VideoCapture(str(video))
        fps = capture.get(cv2.CAP_PROP_FPS)
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                faces = detector.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), round(total * 1000 / fps))
                found += best_face(faces) is not None
                total += 1
        finally:
            capture.release()
            detector.close()
    assert total == 24 * 6 * 5  # every frame decodes back
    assert found / total >= 0.95


def test_existing_non_empty_folder_is_refused_with_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = subprocess.run([str(PAINWATCH), "data", "synth", "-o", str(target)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_fewer_than_twelve_infants_is_a_user_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(PAINWATCH), "data", "synth", "-o", str(tmp_path / "x"), "--infants", "11"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "at least 12" in result.stderr
    assert not (tmp_path / "x").exists()
