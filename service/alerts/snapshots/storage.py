"""Review snapshots on disk and in the store: where they live, reading them back, and retention.

Files live in `data_dir/snapshots/<alert_id>/`: crop.jpg (224x224), gradcam.jpg (overlay), gradcam.npy (the raw
map) and trace.json; rows in the `snapshots` table point at them with paths relative to the data folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final

from sqlalchemy import delete, select

from service.config.settings import SnapshotConfig
from service.store.database import Store
from service.store.models import SnapshotRow

SNAPSHOTS_DIR: Final = "snapshots"
CROP_FILE: Final = "crop.jpg"
GRADCAM_FILE: Final = "gradcam.jpg"
CAM_FILE: Final = "gradcam.npy"
TRACE_FILE: Final = "trace.json"
DISABLED_REASON: Final = "review snapshots are switched off on this service (snapshots.enabled: false)"


def snapshot_root(data_dir: Path) -> Path:
    return Path(data_dir) / SNAPSHOTS_DIR


def group_id_for(config: SnapshotConfig, bed_id: str) -> str:
    return config.group_ids.get(bed_id, f"bed-{bed_id}")


def row_dict(row: SnapshotRow) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in SnapshotRow.__table__.columns}


def load_snapshot(store: Store, alert_id: str) -> SnapshotRow | None:
    with store.sessions() as session:
        return session.get(SnapshotRow, alert_id)


def snapshot_file(data_dir: Path, relative: str) -> Path | None:
    """The file of a stored path, only when it lies inside the snapshot folder and exists."""
    root = snapshot_root(data_dir).resolve()
    path = (Path(data_dir) / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def read_trace(data_dir: Path, row: SnapshotRow) -> dict[str, Any] | None:
    path = snapshot_file(data_dir, row.trace_path)
    if path is None:
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def purge_snapshots(store: Store, data_dir: Path, older_than: float) -> int:
    """Delete snapshot rows last updated before `older_than` and their folders (and orphan folders that old)."""
    root = snapshot_root(data_dir)
    with store.sessions.begin() as session:
        ids = list(session.scalars(select(SnapshotRow.alert_id).where(SnapshotRow.updated_at < older_than)))
        if ids:
            session.execute(delete(SnapshotRow).where(SnapshotRow.alert_id.in_(ids)))
    for alert_id in ids:
        shutil.rmtree(root / alert_id, ignore_errors=True)
    removed = len(ids)
    if root.is_dir():
        with store.sessions() as session:
            known = set(session.scalars(select(SnapshotRow.alert_id)))
        for folder in root.iterdir():
            # a crash between the files and the row leaves a folder without a row: purge it at the same age
            if folder.is_dir() and folder.name not in known and folder.stat().st_mtime < older_than:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed
