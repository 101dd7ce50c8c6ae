"""What the routes share: settings, the engine, the beds, the metrics, alerts and access control of one service."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket

from service.alerts.center import AlertCenter
from service.alerts.snapshots import SnapshotRecorder
from service.auth import AccessControl
from service.config import ServiceSettings
from service.inference import InferenceEngine
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime
from service.pipeline.messages import BedsSummaryMessage, BedSummary
from service.supervision import Condition, Supervisor


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

    def alert_center(self) -> AlertCenter:
        return self.alerts

    def conditions(self) -> list[Condition]:
        """The service's technical alarm conditions now (store unavailable, a component down, a bed stalled)."""
        return self.supervisor.conditions()

    def summary_message(self) -> BedsSummaryMessage:
        """What /ws/beds sends: every bed's state, and the service's conditions (the dashboard's banner)."""
        beds = [self.bed_summary(b) for b in self.beds.values()]
        return BedsSummaryMessage(ts=time.time(), beds=beds, conditions=self.conditions())

    def bed_summary(self, bed: BedRuntime) -> BedSummary:
        """The bed's latest state with its active alerts and pause (what /ws/beds and REST show)."""
        summary = bed.summary()
        summary.active_alerts = self.alerts.active_for(bed.bed_id)
        summary.alerts_paused_until = self.alerts.bed_state(bed.bed_id).paused_until
        return summary

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
