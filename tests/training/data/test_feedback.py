"""`painwatch data export-feedback` over a store written here: labels from verdicts, unsure counted, --since,
groups, atomic output, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.alerts.models import Alert, AlertKind, Priority, Verdict
from service.errors import UserError
from service.store import Store
from service.store.models import AlertRow, SnapshotRow
from training.data.feedback import export_feedback


def add_reviewed(store: Store, data_dir: Path, ts: float, verdict: Verdict | None, group: str, level: int) -> str:
    alert = Alert(bed_id="b1", kind=AlertKind.PAIN_EPISODE, priority=Priority.MEDIUM, opened_at=ts, updated_at=ts,
                  verdict=verdict)  # fmt: skip
    folder = f"snapshots/{alert.id}"
    (data_dir / folder).mkdir(parents=True)
    cv2.imwrite(str(data_dir / folder / "crop.jpg"), np.full((224, 224, 3), level, np.uint8))
    with store.sessions.begin() as session:
        session.add(AlertRow(**alert.model_dump(mode="json")))
        session.flush()
        session.add(SnapshotRow(
            alert_id=alert.id, bed_id="b1", group_id=group, ts=ts, opened_at=ts, closed_at=ts + 5, final=True,
            probability=0.8, pain_probability=0.9, estimated_score=4, detector="opencv-haar", detector_score=0.75,
            x=1, y=2, side=30, model_name="m", model_version="1", crop_path=f"{folder}/crop.jpg",
            gradcam_path=f"{folder}/gradcam.jpg", cam_path=f"{folder}/gradcam.npy",
            trace_path=f"{folder}/trace.json", updated_at=ts,
        ))  # fmt: skip
    return alert.id


def test_export_labels_groups_since_and_unsure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store.open(f"sqlite:///{data / 'painwatch.db'}")
    store.ensure_beds([("b1", "", "DAN")])
    day = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    old = add_reviewed(store, data, day - 86400, Verdict.PAIN_CONFIRMED, "infant-1", 50)
    pain = add_reviewed(store, data, day + 10, Verdict.PAIN_CONFIRMED, "infant-1", 100)
    calm = add_reviewed(store, data, day + 20, Verdict.NOT_PAIN, "infant-2", 150)
    add_reviewed(store, data, day + 30, Verdict.UNSURE, "infant-2", 200)
    add_reviewed(store, data, day + 40, None, "infant-2", 250)  # not reviewed: never exported
    store.close()

    summary = export_feedback(str(data), tmp_path / "out", since="2026-01-01")
    assert (summary.labels, summary.reviewed, summary.unsure) == ({"pain": 1, "nonpain": 1}, 3, 1)
    assert "2 crops (1 pain, 1 nonpain) from 3 reviewed snapshots; 1 unsure excluded" in summary.line()
    with open(tmp_path / "out" / "dataset.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["frame_id"], r["label"], r["infant_id"]) for r in rows] == [
        (f"feedback_{pain}", "pain", "infant-1"), (f"feedback_{calm}", "nonpain", "infant-2")
    ]  # fmt: skip
    assert rows[0]["source"] == "bedside-feedback" and (rows[0]["w"], rows[0]["score"]) == ("30", "0.7500")
    assert cv2.imread(str(tmp_path / "out" / rows[1]["crop_path"])).mean() == pytest.approx(150, abs=2)

    everything = export_feedback(str(data), tmp_path / "all", verdicts="pain_confirmed")
    assert everything.labels == {"pain": 2, "nonpain": 0} and everything.not_selected == 1
    assert old in (tmp_path / "all" / "dataset.csv").read_text()

    with pytest.raises(UserError, match="no reviewed snapshots to export"):
        export_feedback(str(data), tmp_path / "late", since="2027-01-01")
    assert not (tmp_path / "late").exists()
    with pytest.raises(UserError, match="'unsure' has no label"):
        export_feedback(str(data), tmp_path / "u", verdicts="unsure")
    with pytest.raises(UserError, match="no such store"):
        export_feedback(str(tmp_path / "missing"), tmp_path / "m")


def test_export_opens_encrypted_crops_writes_private_files_and_is_audited(tmp_path: Path) -> None:
    from service.alerts.snapshots.sealing import Keyring, new_key_file, write_snapshot_file

    data = tmp_path / "data"
    store = Store.open(f"sqlite:///{data / 'painwatch.db'}")
    store.ensure_beds([("b1", "", "DAN")])
    alert_id = add_reviewed(store, data, 1_767_225_700.0, Verdict.PAIN_CONFIRMED, "infant-1", 120)
    new_key_file(tmp_path / "keys")
    crop = data / "snapshots" / alert_id / "crop.jpg"
    write_snapshot_file(crop, crop.read_bytes(), Keyring.load(tmp_path / "keys"))  # encrypted at rest
    store.close()
    with pytest.raises(UserError, match="crop.jpg: encrypted, and no snapshot key is configured"):
        export_feedback(str(data), tmp_path / "no-key")
    with pytest.raises(UserError, match="--token: not a valid session of an engineer or admin"):
        export_feedback(str(data), tmp_path / "forged", key_file=tmp_path / "keys", token="forged")
    export_feedback(str(data), tmp_path / "out", key_file=tmp_path / "keys")  # as the data folder's owner
    with open(tmp_path / "out" / "dataset.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    exported = tmp_path / "out" / row["crop_path"]
    assert cv2.imread(str(exported)).mean() == pytest.approx(120, abs=2)  # decrypted for training
    assert exported.stat().st_mode & 0o777 == 0o600 and (tmp_path / "out" / "dataset.csv").stat().st_mode & 0o077 == 0
    store = Store.open(f"sqlite:///{data / 'painwatch.db'}")
    audits = [(a.who, a.action, a.details["crops"]) for a in store.audit_entries()]
    store.close()
    assert len(audits) == 2 and audits[-1][1:] == ("feedback.export", 1) and audits[-1][0].startswith("os:")


def test_export_with_an_engineers_token_is_audited_as_that_engineer(tmp_path: Path) -> None:
    from service.auth.models import AuthUser, Role
    from service.auth.sessions import SessionStore
    from service.auth.users import UserDirectory

    data = tmp_path / "data"
    store = Store.open(f"sqlite:///{data / 'painwatch.db'}")
    store.ensure_beds([("b1", "", "DAN")])
    add_reviewed(store, data, 1_767_225_700.0, Verdict.NOT_PAIN, "infant-1", 90)
    users = UserDirectory(store)
    users.create("eng-a", Role.ENGINEER, "eng-a-password-1", by="test")
    users.create("nurse-a", Role.NURSE, "nurse-a-password-1", by="test")
    sessions = SessionStore(store, 3600.0, 3600.0)
    engineer = sessions.issue(AuthUser(name="eng-a", role=Role.ENGINEER))
    nurse = sessions.issue(AuthUser(name="nurse-a", role=Role.NURSE))
    store.close()
    with pytest.raises(UserError, match="not a valid session of an engineer or admin"):
        export_feedback(str(data), tmp_path / "by-nurse", token=nurse)
    export_feedback(str(data), tmp_path / "out", token=engineer)
    store = Store.open(f"sqlite:///{data / 'painwatch.db'}")
    assert [(a.who, a.action) for a in store.audit_entries()][-1] == ("eng-a", "feedback.export")
    store.close()
