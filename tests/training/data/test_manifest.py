from pathlib import Path

import pytest

from service.errors import ValidationErrors
from training.data.manifest import RATERS_DISAGREE, read_manifest

HEADER = (
    "video_id,infant_id,path,scale,rater,face,limbs,vocal,legs,activity,cry,consolability,window_start_s,window_end_s\n"
)


def write_manifest(folder: Path, body: str, header: str = HEADER) -> Path:
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / name).write_bytes(b"x")  # existence is what the manifest checks; decoding comes later
    path = folder / "manifest.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_dan_face_is_max_over_raters_and_paths_resolve(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        "v1,i1,a.mp4,DAN,r1,2,1,0,,,,,5,35\nv1,i1,a.mp4,DAN,r2,3,1,1,,,,,5,35\nv1,i1,a.mp4,DAN,r3,0,0,0,,,,,5,35\n",
    )
    [video] = read_manifest(path)
    assert video.face_score == 3
    assert video.included
    assert video.path == tmp_path / "a.mp4"
    assert (video.window_start_s, video.window_end_s) == (5.0, 35.0)
    assert len(video.raters) == 3


def test_flacc_three_raters_disagreeing_across_boundary_is_excluded(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        "v1,i1,a.mp4,FLACC,r1,2,,,1,1,,,,\n"
        "v1,i1,a.mp4,FLACC,r2,1,,,1,1,,,,\n"
        "v1,i1,a.mp4,FLACC,r3,2,,,1,1,,,,\n"
        "v2,i2,b.mp4,FLACC,r1,0,,,0,0,,,,\n"
        "v2,i2,b.mp4,FLACC,r2,1,,,0,0,,,,\n"
        "v2,i2,b.mp4,FLACC,r3,0,,,0,0,,,,\n"
        "v3,i3,c.mp4,FLACC,r1,2,,,2,2,,,,\n"
        "v3,i3,c.mp4,FLACC,r2,2,,,1,2,,,,\n",
    )
    videos = {v.video_id: v for v in read_manifest(path)}
    assert not videos["v1"].included and videos["v1"].excluded_reason == RATERS_DISAGREE
    assert videos["v1"].face_score is None
    assert videos["v2"].included and videos["v2"].face_score == 1  # agree on nonpain (0/1)
    assert videos["v3"].included and videos["v3"].face_score == 2


def test_every_problem_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        "v1,i1,a.mp4,DAN,r1,5,1,0,,,,,,\n"  # 2: face out of range
        "v2,i2,missing.mp4,DAN,r1,1,0,0,,,,,,\n"  # 3: missing video
        "v3,i3,b.mp4,NIPS,r1,1,0,0,,,,,,\n"  # 4: bad scale
        "v4,i4,c.mp4,DAN,r1,1,0,0,,,,,,\n"  # 5
        "v4,i4,c.mp4,DAN,r1,2,0,0,,,,,,\n"  # 6: duplicate rater
        "v4,i9,c.mp4,DAN,r2,2,0,0,,,,,,\n"  # 7: second infant id for v4
        "v5,i5,a.mp4,FLACC,r1,1,,,3,,,,,\n"  # 8: legs out of range
        "v6,i6,a.mp4,DAN,r1,1,0,0,1,,,,,\n",  # 9: FLACC column on a DAN row
    )
    with pytest.raises(ValidationErrors) as caught:
        read_manifest(path)
    text = str(caught.value)
    problems = caught.value.problems
    assert "line 2: DAN face score 5 is outside its range 0-4" in text
    assert "line 3: video file 'missing.mp4' not found" in text
    assert "line 4: unknown scale 'NIPS'" in text
    assert "line 6: duplicate row for video 'v4' and rater 'r1' (first on line 5)" in text
    assert "line 7: video 'v4' has infant id 'i9' here but 'i4' on line 5" in text
    assert "line 8: FLACC legs score 3 is outside its range 0-2" in text
    assert "line 9: column 'legs' is not a DAN item" in text
    assert len(problems) == 7
    assert "nothing was written" in text


def test_unknown_and_missing_columns(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "v1,a.mp4,DAN,r1,1,0\n", header="video_id,path,scale,rater,face,colour\n")
    with pytest.raises(ValidationErrors) as caught:
        read_manifest(path)
    assert caught.value.problems[0].startswith("line 1: unknown column 'colour'")
    assert "line 1: missing column 'infant_id'" in caught.value.problems


def test_bad_window_and_non_numeric_score(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "v1,i1,a.mp4,DAN,r1,two,0,0,,,,,30,10\n")
    with pytest.raises(ValidationErrors) as caught:
        read_manifest(path)
    assert "line 2: DAN face score 'two' is not a whole number (DAN face is 0-4)" in caught.value.problems
    assert "line 2: window_end_s 10.0 must be after window_start_s 30.0" in caught.value.problems
