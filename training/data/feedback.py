"""`painwatch data export-feedback`: reviewed bedside snapshots -> a `dataset.csv` in the training format.

A nurse's verdict on an acknowledged pain episode labels the face crop stored at the episode's peak:
`pain_confirmed` -> pain, `not_pain` -> nonpain; `unsure` carries no label and is only counted. `infant_id` is the
snapshot's bed/infant group id, so grouped cross-validation keeps one baby's crops in one fold. The store is only
read (never created or upgraded); the output folder appears complete or not at all. No TensorFlow.
"""

from __future__ import annotations

import getpass
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.alerts.models import Verdict
from service.alerts.snapshots.sealing import Keyring, read_snapshot_file
from service.auth.models import Role
from service.auth.sessions import SessionStore
from service.config.settings import AuthConfig
from service.errors import UserError
from service.files import private_files, write_csv_atomic
from service.store.database import Store, create_db_engine
from service.store.location import StoreLocation, locate_store
from service.store.models import AlertRow, SnapshotRow
from training.data.crops import DATASET_CSV, CropNamer, build_output_dir, write_dataset_info
from training.data.schema import DATASET_COLUMNS

logger = logging.getLogger(__name__)

SOURCE_FEEDBACK: Final = "bedside-feedback"
VERDICT_LABELS: Final = {Verdict.PAIN_CONFIRMED.value: "pain", Verdict.NOT_PAIN.value: "nonpain"}
DEFAULT_VERDICTS: Final = (Verdict.PAIN_CONFIRMED.value, Verdict.NOT_PAIN.value)


@dataclass
class FeedbackSummary:
    out_dir: Path
    labels: dict[str, int] = field(default_factory=lambda: {"pain": 0, "nonpain": 0})
    reviewed: int = 0
    unsure: int = 0
    not_selected: int = 0
    missing_files: int = 0

    @property
    def crops(self) -> int:
        return sum(self.labels.values())

    def line(self) -> str:
        return (
            f"{self.out_dir / DATASET_CSV}: {self.crops} crops ({self.labels['pain']} pain, "
            f"{self.labels['nonpain']} nonpain) from {self.reviewed} reviewed snapshots; {self.unsure} unsure "
            f"excluded, {self.not_selected} other verdicts not selected, {self.missing_files} with missing files"
        )


def parse_since(text: str | None) -> float | None:
    """An ISO date or date-time (UTC unless it says otherwise) as Unix seconds."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"--since {text!r}: expected a date like 2026-01-31 or 2026-01-31T08:00") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_verdicts(text: str | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_VERDICTS
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VERDICT_LABELS]
    if unknown or not names:
        raise UserError(
            f"--verdicts {text!r}: choose from {', '.join(VERDICT_LABELS)} ('unsure' has no label and is never "
            "exported)"
        )
    return names


def _open_engine(location: StoreLocation) -> Engine:
    try:
        engine = create_db_engine(location.url)
        tables = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        raise UserError(f"--store: cannot open the database ({type(exc).__name__}: {exc})") from exc
    if not {"alerts", "snapshots"} <= tables:
        engine.dispose()
        raise UserError("--store: this database has no review snapshots table (not a painwatch store, or older "
                        "than migration 0002; start the service once to upgrade it)")  # fmt: skip
    return engine


def _reviewed(engine: Engine, since: float | None) -> list[tuple[SnapshotRow, str]]:
    query = (
        select(SnapshotRow, AlertRow.verdict)
        .join(AlertRow, AlertRow.id == SnapshotRow.alert_id)
        .where(AlertRow.verdict.is_not(None))
        .order_by(SnapshotRow.ts)
    )
    if since is not None:
        query = query.where(SnapshotRow.ts >= since)
    with Session(engine) as session:
        return [(row, str(verdict)) for row, verdict in session.execute(query).all()]


def export_feedback(
    store: str,
    out_dir: Path,
    since: str | None = None,
    verdicts: str | None = None,
    data_dir: Path | None = None,
    force: bool = False,
    key_file: Path | None = None,
    token: str | None = None,
) -> FeedbackSummary:
    """Write OUT_DIR (crops/ + dataset.csv + dataset.json) from the reviewed snapshots of a service store."""
    location = locate_store(store, data_dir)
    keyring = Keyring.load(key_file)
    who = authorise_export(location, token)
    wanted, since_ts = parse_verdicts(verdicts), parse_since(since)
    engine = _open_engine(location)
    try:
        reviewed = _reviewed(engine, since_ts)
        summary = FeedbackSummary(Path(out_dir), reviewed=len(reviewed))
        selected = _select(reviewed, wanted, location.data_dir, summary)
        if not selected:
            raise UserError(f"{store}: no reviewed snapshots to export ({summary.line().split('; ', 1)[1]}); "
                            "nothing was written")  # fmt: skip
        # infant faces leave the service: recorded in its audit trail before anything is written
        _audit_export(engine, who, {"out_dir": str(Path(out_dir).resolve()), "crops": len(selected), "since": since,
                               "verdicts": list(wanted)})  # fmt: skip
    finally:
        engine.dispose()
    namer = CropNamer()
    rows: list[dict[str, Any]] = []
    with private_files(), build_output_dir(Path(out_dir), force) as tmp:  # faces: 0600 files, 0700 folders
        for snapshot, label, crop in selected:
            rows.append(_copy_one(snapshot, label, crop, tmp, namer, keyring))
            summary.labels[label] += 1
        write_csv_atomic(tmp / DATASET_CSV, DATASET_COLUMNS, rows)
        write_dataset_info(
            tmp,
            {"step": "painwatch data export-feedback", "source": SOURCE_FEEDBACK, "verdicts": list(wanted),
             "since": since, "crops": len(rows), "unsure_excluded": summary.unsure},
        )  # fmt: skip
    return summary


def authorise_export(location: StoreLocation, token: str | None) -> str:
    """Infant faces leave the service: an engineer's or admin's session token (`--token`), or the operating-system
    user who owns the service's data folder (or root). Returns who, for the audit trail."""
    if token is not None:
        engine = _open_engine(location)
        try:
            defaults = AuthConfig()  # the service's own idle limit is in its config; the default is the safe one
            sessions = SessionStore(
                Store(engine), defaults.session_hours * 3600.0, defaults.session_idle_minutes * 60.0
            )
            user = sessions.user(token)
        finally:
            engine.dispose()
        if user is None or not user.role.allows(Role.ENGINEER):
            raise UserError("--token: not a valid session of an engineer or admin (log in to the service first)")
        return user.name
    owner = location.data_dir.stat().st_uid if location.data_dir.exists() else -1
    if os.geteuid() not in (0, owner):
        raise UserError(f"export-feedback needs an engineer's --token, or to run as the user owning "
                        f"{location.data_dir.resolve()} (the service's data folder)")  # fmt: skip
    return f"os:{getpass.getuser()}"


def _audit_export(engine: Engine, who: str, details: dict[str, Any]) -> None:
    try:
        with Session(engine) as session, session.begin():
            Store(engine).audit(session, who, "feedback.export", details, time.time())
    except SQLAlchemyError as exc:
        raise UserError(
            f"the export could not be recorded in the store's audit trail ({exc}); nothing was written"
        ) from exc


def _select(
    reviewed: list[tuple[SnapshotRow, str]], wanted: tuple[str, ...], data_dir: Path, summary: FeedbackSummary
) -> list[tuple[SnapshotRow, str, Path]]:
    selected: list[tuple[SnapshotRow, str, Path]] = []
    for snapshot, verdict in reviewed:
        if verdict == Verdict.UNSURE.value:
            summary.unsure += 1
            continue
        if verdict not in wanted:
            summary.not_selected += 1
            continue
        crop = data_dir / snapshot.crop_path
        if not crop.is_file():
            logger.warning("snapshot of alert %s: crop file %s is missing; skipped", snapshot.alert_id, crop)
            summary.missing_files += 1
            continue
        selected.append((snapshot, VERDICT_LABELS[verdict], crop))
    return selected


def _copy_one(
    snapshot: SnapshotRow, label: str, crop: Path, out_dir: Path, namer: CropNamer, keyring: Keyring | None
) -> dict[str, Any]:
    frame_id = f"feedback_{snapshot.alert_id}"
    crop_path = namer(label, frame_id)
    (out_dir / crop_path).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / crop_path).write_bytes(read_snapshot_file(crop, keyring))  # decrypted: a training dataset is plain
    return {
        "crop_path": crop_path, "frame_id": frame_id, "video_id": f"alert_{snapshot.alert_id}",
        "infant_id": snapshot.group_id, "label": label, "detector": snapshot.detector,
        "score": "" if snapshot.detector_score is None else f"{snapshot.detector_score:.4f}",
        "x": snapshot.x, "y": snapshot.y, "w": snapshot.side, "h": snapshot.side, "source": SOURCE_FEEDBACK,
    }  # fmt: skip
