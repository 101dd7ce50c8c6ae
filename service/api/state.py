"""What the routes share: settings, the engine, the beds and the metrics of one service instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import HTTPException, Request, WebSocket

from service.config import ServiceSettings
from service.inference import InferenceEngine
from service.metrics import ServiceMetrics
from service.pipeline.bed import BedRuntime


@dataclass
class ServiceState:
    settings: ServiceSettings
    engine: InferenceEngine
    beds: dict[str, BedRuntime]
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)

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
