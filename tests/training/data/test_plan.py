from pathlib import Path

import pytest

from service.errors import UserError
from training.data.manifest import read_manifest
from training.data.plan import PlanConfig, build_plan, load_plan_config, write_plan
from training.data.schema import PLAN_COLUMNS

HEADER = (
    "video_id,infant_id,path,scale,rater,face,limbs,vocal,legs,activity,cry,consolability,window_start_s,window_end_s\n"
)


def plan_for(tmp_path: Path, body: str, make_video, config: PlanConfig | None = None) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    make_video("long.mp4", seconds=40, fps=10)
    make_video("short.mp4", seconds=10, fps=10)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER + body, encoding="utf-8")
    rows = build_plan(read_manifest(manifest), config or PlanConfig())
    return {str(r["video_id"]): r for r in rows}


def test_thesis_defaults(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    rows = plan_for(
        tmp_path,
        "d0,i1,short.mp4,DAN,r1,0,0,0,,,,,,\n"
        "d1,i2,short.mp4,DAN,r1,1,0,0,,,,,,\n"
        "d3,i3,short.mp4,DAN,r1,3,2,2,,,,,,\n"
        "f0,k1,short.mp4,FLACC,r1,1,,,0,0,,,,\n"
        "f2,k2,short.mp4,FLACC,r1,2,,,1,1,,,,\n"
        "fx,k3,short.mp4,FLACC,r1,2,,,1,1,,,,\n"
        "fx,k3,short.mp4,FLACC,r2,0,,,1,1,,,,\n",
        make_video,
    )
    assert (rows["d0"]["label_policy"], rows["d0"]["sample_fps"]) == ("nonpain", 0.5)
    assert (rows["d1"]["label_policy"], rows["d1"]["sample_fps"]) == ("nonpain", 0.5)
    assert (rows["d3"]["label_policy"], rows["d3"]["sample_fps"]) == ("manual", 1.0)
    assert (rows["f0"]["label_policy"], rows["f0"]["sample_fps"], rows["f0"]["max_seconds"]) == ("nonpain", 1.0, 60.0)
    assert (rows["f2"]["label_policy"], rows["f2"]["sample_fps"], rows["f2"]["max_seconds"]) == ("pain", 2.0, "")
    assert rows["fx"]["included"] is False and rows["fx"]["reason"] == "raters disagree"
    assert all(rows[v]["included"] for v in ("d0", "d1", "d3", "f0", "f2"))


def test_dan_infants_capped_to_about_the_same_frame_count(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    # three pain infants at 1 frame/s: 10 s, 10 s and 40 s windows -> the long one is cut to the median (10 frames)
    rows = plan_for(
        tmp_path,
        "a,i1,short.mp4,DAN,r1,3,0,0,,,,,,\nb,i2,short.mp4,DAN,r1,3,0,0,,,,,,\nc,i3,long.mp4,DAN,r1,3,0,0,,,,,,\n",
        make_video,
    )
    assert rows["a"]["max_seconds"] == "" and rows["b"]["max_seconds"] == ""
    assert rows["c"]["max_seconds"] == 10.0


def test_custom_config_and_written_columns(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    config_file = tmp_path / "plan.yaml"
    config_file.write_text(
        "rules:\n"
        "  - {scale: DAN, faces: [0, 1, 2], label_policy: nonpain, sample_fps: 2}\n"
        "  - {scale: DAN, faces: [3, 4], label_policy: pain, sample_fps: 3, max_seconds: 5}\n"
        "balance_infants: {}\n",
        encoding="utf-8",
    )
    rows = plan_for(
        tmp_path,
        "a,i1,long.mp4,DAN,r1,2,0,0,,,,,,\nb,i2,long.mp4,DAN,r1,4,0,0,,,,,,\n",
        make_video,
        load_plan_config(config_file),
    )
    assert (rows["a"]["label_policy"], rows["a"]["sample_fps"], rows["a"]["max_seconds"]) == ("nonpain", 2.0, "")
    assert (rows["b"]["label_policy"], rows["b"]["sample_fps"], rows["b"]["max_seconds"]) == ("pain", 3.0, 5.0)
    out = tmp_path / "plan.csv"
    write_plan(list(rows.values()), out)
    assert out.read_text().splitlines()[0] == ",".join(PLAN_COLUMNS)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("rules:\n  - {scale: DAN, faces: [0], label_policy: nonpain, sample_fsp: 2}\n")
    typo = r"plan.yaml:2: rules\[0\]\.sample_fsp: unknown key; did you mean `rules\[0\]\.sample_fps`"
    with pytest.raises(UserError, match=typo):
        load_plan_config(bad)
    overlap = tmp_path / "overlap.yaml"
    overlap.write_text(
        "rules:\n  - {scale: DAN, faces: [0, 1], label_policy: nonpain, sample_fps: 1}\n"
        "  - {scale: DAN, faces: [1], label_policy: pain, sample_fps: 1}\n"
    )
    with pytest.raises(UserError, match="rules\\[1\\] and rules\\[0\\] both cover DAN face 1"):
        load_plan_config(overlap)
