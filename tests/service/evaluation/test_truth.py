"""The truth sidecar: written files validate against the committed JSON Schema, read back equal, and every bad
file is one UserError naming the file and the key (or the JSON line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.aggregation import Scale
from service.demo_video import DEMO_SCRIPT, ScriptStep, script_truth
from service.errors import UserError
from service.evaluation.truth import read_truth, truth_path_for, write_truth

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs" / "schemas" / "video_truth.schema.json").read_text())


def _valid() -> dict[str, Any]:
    return {
        "schema_version": 1, "fps": 10.0, "frame_count": 100, "duration_s": 10.0,
        "segments": [{"start_s": 0.0, "end_s": 4.0, "label": "calm"}, {"start_s": 4.0, "end_s": 8.0, "label": "pain"},
                     {"start_s": 8.0, "end_s": 10.0, "label": "no_face"}],
        "cues": [{"start_s": 4.0, "end_s": 8.0, "cues": ["open_mouth"], "strength": 0.9}],
    }  # fmt: skip


def test_demo_truth_validates_and_round_trips(tmp_path: Path) -> None:
    truth = script_truth(DEMO_SCRIPT, 10.0, "synthetic-demo.mp4")
    path = write_truth(truth_path_for(tmp_path / "synthetic-demo.mp4"), truth)
    assert path.name == "synthetic-demo.truth.json"
    data = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert read_truth(path) == truth
    assert [(s.label, s.start_s, s.end_s) for s in truth.segments] == [
        ("calm", 0.0, 30.0), ("pain", 30.0, 100.0), ("calm", 100.0, 200.0), ("no_face", 200.0, 230.0),
        ("calm", 230.0, 260.0),
    ]  # fmt: skip
    assert truth.frame_count == 2600 and truth.duration_s == 260.0 and truth.scale is Scale.DAN
    assert truth.cues[0].start_s == 30.0 and truth.cues[-1].end_s == 100.0
    assert all("open_mouth" in c.cues for c in truth.cues)


def test_truth_windows_follow_the_scale_rule() -> None:
    truth = script_truth((ScriptStep("calm", 10), ScriptStep("pain", 10), ScriptStep("no_face", 10)), 10.0)
    assert truth.label_at(9.9) == "calm" and truth.label_at(10.0) == "pain" and truth.label_at(29.9) == "no_face"
    assert truth.pain_fraction(0, 10) == 0.0 and truth.score(0, 10) == 0
    assert truth.pain_fraction(5, 20) == pytest.approx(10 / 15) and truth.score(5, 20) == 3  # 2/3: still 3
    assert truth.score(5, 25) == 3  # no_face time does not count: 10 of 15 face-visible seconds
    assert truth.score(8, 20) == 4 and truth.score(9, 11) == 3 and truth.score(0, 12) == 2
    assert truth.pain_fraction(20, 30) is None and truth.score(20, 30) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("fps"), "key 'fps': missing"),
        (lambda d: d.update(schema_version=2), "key 'schema_version': must be 1"),
        (lambda d: d["segments"][1].update(label="sad"), "key 'segments[1].label': must be one of"),
        (lambda d: d["segments"][1].update(start_s=4.5), "key 'segments[1].start_s': 4.5 leaves a gap"),
        (lambda d: d["segments"][2].update(end_s=9.0), "key 'segments[2].end_s': the last segment ends at 9"),
        (lambda d: d["cues"][0].update(start_s=2.0), "key 'cues[0]': 2-8 s is not inside one 'pain' segment"),
        (lambda d: d.update(frame_count=150), "key 'duration_s': 10 s does not match frame_count / fps"),
        (lambda d: d.update(colour="red"), "key 'colour': unknown key"),
    ],
)
def test_bad_sidecars_name_the_key(tmp_path: Path, change: Any, message: str) -> None:
    data = _valid()
    jsonschema.validate(data, SCHEMA)
    change(data)
    path = tmp_path / "v.truth.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as caught:
        read_truth(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "v.truth.json"
    path.write_text('{\n  "schema_version": 1,\n  "fps": ,\n}')
    with pytest.raises(UserError, match=r"v\.truth\.json: line 3 column 10: not valid JSON"):
        read_truth(path)
    with pytest.raises(UserError, match="truth file not found"):
        read_truth(tmp_path / "missing.json")
