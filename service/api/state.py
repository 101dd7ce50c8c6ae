"""What the routes share: settings, the engine, the beds, the metrics, alerts and access control of one service."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket

from service.alerts.center import AlertCenter
from service.alerts.models import AlertsSnapshotMessage
from service.alerts.snapshots import SnapshotRecorder
from service.auth import AccessControl
from service.config import ServiceSettings
from service.inference import InferenceEngine
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime
from service.pipeline.messages import BedsSummaryMessage, BedSummary
from service.supervision import Condition, Supervisor
from service.ward.node import WardNode
from service.ward.registry import RegisteredBed


@dataclass
class ServiceState:
    settings: ServiceSettings
    engine: InferenceEngine
    beds: dict[str, BedRuntime]
    metrics: ServiceMetrics
    alerts: AlertCenter
    access: AccessControl
    supervisor: Supervisor
    snapshots: SnapshotRecorder | None = None
    ward: WardNode | None = None
    """Set on a node of a ward of several nodes (`node:` in the config): the other nodes' beds and commands."""

    def alert_center(self) -> AlertCenter:
        return self.alerts

    def conditions(self) -> list[Condition]:
        """The service's technical alarm conditions now (store unavailable, a component down, a bed stalled)."""
        return self.supervisor.conditions()

    def summary_message(self) -> BedsSummaryMessage:
        """What /ws/beds sends: every bed's state, and the service's conditions (the dashboard's banner)."""
        beds = [self.bed_summary(b) for b in self.beds.values()]
        if self.ward is not None:  # the whole ward: this node's beds, then the others' as last heard
            beds = [*beds, *self.ward.remote_summaries()]
        return BedsSummaryMessage(ts=time.time(), beds=beds, conditions=self.conditions())

    def bed_summary(self, bed: BedRuntime) -> BedSummary:
        """The bed's latest state with its active alerts and pause (what /ws/beds and REST show)."""
        summary = bed.summary()
        summary.active_alerts = self.alerts.active_for(bed.bed_id)
        summary.alerts_paused_until = self.alerts.bed_state(bed.bed_id).paused_until
        summary.node_id = self.ward.id if self.ward is not None else None
        return summary

    def alerts_snapshot(self) -> AlertsSnapshotMessage:
        """The first /ws/alerts message: this node's active alerts and, on a ward node, the other nodes' too."""
        snapshot = self.alerts.snapshot()
        if self.ward is not None:
            snapshot.alerts = sorted([*snapshot.alerts, *self.ward.remote_alerts()], key=lambda a: a.opened_at)
        return snapshot

    def remote_bed(self, bed_id: str) -> RegisteredBed | None:
        """Another node's bed on a ward node (None for this node's own beds, an unknown bed, or a single node)."""
        return self.ward.remote_bed(bed_id) if self.ward is not None and bed_id not in self.beds else None

    def require_known(self, bed_id: str) -> None:
        """404 unless the bed is this node's or, on a ward node, another node's."""
        if self.remote_bed(bed_id) is None:
            self.bed(bed_id)

    def bed(self, bed_id: str) -> BedRuntime:
        runtime = self.beds.get(bed_id)
        if runtime is None:
            raise HTTPException(status_code=404, detail=f"unknown bed {bed_id!r}; beds: {', '.join(self.beds)}")
        return runtime


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def get_ws_state(websocket: WebSocket) -> ServiceState:
    state: ServiceState = websocket.app.state.service
    return state
