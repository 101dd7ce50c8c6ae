import csv
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import PAINWATCH
from training.data.extract import PlannedVideo, extract_all, selected_frames


def planned(
    path: Path,
    fps: float,
    start: float = 0.0,
    end: float | None = None,
    max_s: float | None = None,
    policy: str = "nonpain",
    video_id: str = "v1",
) -> PlannedVideo:
    return PlannedVideo(
        video_id=video_id,
        infant_id="i1",
        path=path,
        label_policy=policy,
        sample_fps=fps,
        max_seconds=max_s,
        window_start_s=start,
        window_end_s=end,
    )


@pytest.mark.parametrize(
    ("rate", "start", "end"), [(1.0, 0.0, None), (0.5, 2.0, 9.0), (2.0, 1.0, 5.0), (3.0, 0.0, 7.5)]
)
def test_frame_count_is_rate_times_window(make_video, rate: float, start: float, end: float | None) -> None:  # type: ignore[no-untyped-def]
    video = make_video(seconds=10, fps=15)
    frames = list(selected_frames(planned(video, rate, start, end)))
    window = (end if end is not None else 10.0) - start
    assert abs(len(frames) - rate * window) <= 1
    stamps = [t for t, _, _ in frames]
    assert stamps[0] == pytest.approx(start, abs=1 / 15)
    assert all(start - 1e-6 <= t < start + window for t in stamps)
    # the grey level encodes the decoded frame index: the timestamp belongs to that very frame
    for timestamp, index, rgb in frames:
        assert index == round(timestamp * 15)
        assert abs(float(rgb.mean()) - (index * 8) % 256) < 4  # neighbours are 8 levels away


def test_max_seconds_takes_first_part_of_window(make_video) -> None:  # type: ignore[no-untyped-def]
    video = make_video(seconds=10, fps=10)
    frames = list(selected_frames(planned(video, 1.0, start=2.0, max_s=3.0)))
    assert [round(t, 3) for t, _, _ in frames] == [2.0, 3.0, 4.0]


def test_extract_is_deterministic_resumable_and_reports_corrupt(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    good = make_video("good.mp4", seconds=6, fps=10)
    manual = make_video("manual.mp4", seconds=4, fps=10)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00not a video" * 100)
    plan = [
        planned(good, 1.0, video_id="good"),
        planned(manual, 2.0, policy="manual", video_id="manual"),
        planned(corrupt, 1.0, video_id="corrupt"),
    ]
    out = tmp_path / "frames"
    summary = extract_all(plan, out)
    assert summary.extracted == {"good": 6, "manual": 8}
    assert list(summary.failed) == ["corrupt"] and "cannot be opened" in summary.failed["corrupt"]
    rows = list(csv.DictReader(open(out / "frames.csv")))
    assert len(rows) == 14
    assert {r["label"] for r in rows if r["video_id"] == "good"} == {"nonpain"}
    assert {r["label"] for r in rows if r["video_id"] == "manual"} == {""}
    assert all((out / r["frame_path"]).is_file() for r in rows)
    first = (out / "frames.csv").read_bytes()
    again = extract_all(plan, out)
    assert sorted(again.skipped_done) == ["good", "manual"] and again.extracted == {}
    assert (out / "frames.csv").read_bytes() == first
    assert not list(out.glob("frames/.*.tmp"))  # nothing half-written left behind


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAINWATCH, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_plan_then_extract_exits_2_on_corrupt_video_unless_keep_going(tmp_path: Path, make_video) -> None:  # type: ignore[no-untyped-def]
    make_video("ok.mp4", seconds=4, fps=10)
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 50)
    manifest = tmp_path / "m.csv"
    manifest.write_text("video_id,infant_id,path,scale,rater,face\nok,i1,ok.mp4,DAN,r1,0\nbad,i2,bad.mp4,DAN,r1,0\n")
    plan = tmp_path / "plan.csv"
    result = run_cli("data", "plan", str(manifest), "-o", str(plan))
    assert result.returncode == 0, result.stderr
    result = run_cli("data", "extract", str(plan), "-o", str(tmp_path / "frames"))
    assert result.returncode == 2
    assert "failed: bad:" in result.stderr and "cannot be opened" in result.stderr
    rows = list(csv.DictReader(open(tmp_path / "frames" / "frames.csv")))
    assert {r["video_id"] for r in rows} == {"ok"} and len(rows) == 2  # 0.5 frames/s x 4 s
    result = run_cli("data", "extract", str(plan), "-o", str(tmp_path / "frames"), "--keep-going")
    assert result.returncode == 0


def test_cli_plan_bad_manifest_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("video_id,infant_id,path,scale,rater,face,mood\nv,i,nofile.mp4,DAN,r1,9,x\n")
    result = run_cli("data", "plan", str(manifest), "-o", str(tmp_path / "plan.csv"))
    assert result.returncode == 2
    assert "line 1: unknown column 'mood'" in result.stderr
    assert not (tmp_path / "plan.csv").exists()
    result = run_cli("data", "plan", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "plan.csv"))
    assert result.returncode == 2 and "manifest not found" in result.stderr
