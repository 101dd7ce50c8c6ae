"""Review snapshots at pain-episode peaks: the recorder follows episodes (memory), the writer writes files
(its own thread), storage reads them back and applies retention."""

from service.alerts.snapshots.recorder import SnapshotRecorder
from service.alerts.snapshots.storage import (
    DISABLED_REASON,
    group_id_for,
    load_snapshot,
    purge_snapshots,
    read_trace,
    snapshot_file,
    snapshot_root,
)
from service.alerts.snapshots.writer import SnapshotJob, SnapshotWriter

__all__ = [
    "DISABLED_REASON",
    "SnapshotJob",
    "SnapshotRecorder",
    "SnapshotWriter",
    "group_id_for",
    "load_snapshot",
    "purge_snapshots",
    "read_trace",
    "snapshot_file",
    "snapshot_root",
]
