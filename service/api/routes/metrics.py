"""Prometheus exposition."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import metrics_reader
from service.api.state import ServiceState, get_state
from service.pipeline.messages import BedState

router = APIRouter(tags=["metrics"], dependencies=[Depends(metrics_reader)])


def refresh_gauges(state: ServiceState) -> None:
    """Counters that live in the captures, workers and broadcasters are copied at scrape time."""
    m = state.metrics
    for bed_id, bed in state.beds.items():
        m.analysed_fps.labels(bed_id).set(bed.worker.analysed_fps)
        ratio = bed.worker.face_found_ratio
        m.face_found_ratio.labels(bed_id).set(ratio if ratio is not None else float("nan"))
        m.frames_captured.labels(bed_id).set(bed.capture.frames_captured)
        m.frames_dropped.labels(bed_id, "capture").set(bed.capture.frames_dropped)
        m.frames_dropped.labels(bed_id, "clients").set(bed.broadcaster.dropped_total)
        m.source_reopens.labels(bed_id).set(bed.capture.reopen_count)
        m.client_queue_depth.labels(bed_id).set(max(bed.broadcaster.queue_depths(), default=0))
        m.clients.labels(bed_id).set(bed.broadcaster.subscriber_count)
    m.inference_queue_depth.set(state.engine.queue_depth)
    writer = state.alerts.writer
    for queue_class, depth in writer.depth_by_class().items():
        m.store_queue_depth.labels(queue_class).set(depth)
    m.store_available.set(1.0 if writer.available else 0.0)
    if state.ward is not None:
        for outcome, count in state.ward.counters().items():
            m.ward_notes.labels(outcome).set(count)
        states = Counter(summary.state.value for summary in state.ward.remote_summaries())
        for bed_state in BedState:
            m.ward_remote_beds.labels(bed_state.value).set(states.get(bed_state.value, 0))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: Annotated[ServiceState, Depends(get_state)]) -> Response:
    refresh_gauges(state)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
