"""WebSockets: per-bed frame stream (JSON, then an optional Grad-CAM JPEG), the all-beds summary, alerts.

Each needs a logged-in user (bearer header or session cookie); without one it is closed with 1008.

A client only ever reads from its own bounded queue (filled by the broadcaster, oldest dropped when full),
so a slow client loses frames instead of slowing anything down; one that accepts nothing for
`send_timeout_s` is closed. On shutdown every client gets a close frame (1001).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from service.api.deps import WsUser, accept_authenticated
from service.api.state import ServiceState, get_ws_state
from service.pipeline.broadcaster import Outgoing, Subscription
from service.pipeline.messages import BedsSummaryMessage

logger = logging.getLogger(__name__)

router = APIRouter(tags=["streams"])

CLOSE_GOING_AWAY = 1001
CLOSE_UNKNOWN_BED = 4404
CLOSE_TOO_SLOW = 4008


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Clients send nothing we need; reading is how a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@router.websocket("/ws/beds/{bed_id}")
async def bed_stream(
    websocket: WebSocket, bed_id: str, state: Annotated[ServiceState, Depends(get_ws_state)], user: WsUser
) -> None:
    if not await accept_authenticated(websocket, user):
        return
    bed = state.beds.get(bed_id)
    if bed is None:
        await websocket.close(CLOSE_UNKNOWN_BED, f"unknown bed {bed_id!r}")
        return
    subscription = bed.broadcaster.subscribe()
    try:
        await _pump(websocket, subscription, state.settings.stream.send_timeout_s, f"bed {bed_id}")
    finally:
        bed.broadcaster.unsubscribe(subscription)


async def _pump(
    websocket: WebSocket, subscription: Subscription, timeout_s: float, what: str, first: Outgoing | None = None
) -> None:
    """Send `first`, then every item of the subscription's bounded queue until the client leaves, the service
    shuts down (a None item) or the client stays stuck for timeout_s (closed, so it can reconnect fresh)."""
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    try:
        pending = [first] if first is not None else []
        while True:
            if pending:
                item: Outgoing | None = pending.pop()
            else:
                next_item = asyncio.create_task(subscription.queue.get())
                done, _ = await asyncio.wait({next_item, disconnected}, return_when=asyncio.FIRST_COMPLETED)
                if disconnected in done:
                    next_item.cancel()
                    return
                item = next_item.result()
            if item is None:
                await websocket.close(CLOSE_GOING_AWAY, "service shutting down")
                return
            if not await _send(websocket, item, timeout_s):
                logger.info("%s: closing a WebSocket client stuck for %.1f s", what, timeout_s)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(CLOSE_TOO_SLOW, "client too slow"), 1.0)
                return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()


async def _send(websocket: WebSocket, item: Outgoing, timeout_s: float) -> bool:
    """False when the client accepted nothing for timeout_s."""
    try:
        await asyncio.wait_for(websocket.send_text(item.text), timeout_s)
        if item.jpeg is not None:
            await asyncio.wait_for(websocket.send_bytes(item.jpeg), timeout_s)
    except TimeoutError:
        return False
    return True


@router.websocket("/ws/beds")
async def beds_summary(
    websocket: WebSocket, state: Annotated[ServiceState, Depends(get_ws_state)], user: WsUser
) -> None:
    if not await accept_authenticated(websocket, user):
        return
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    period = 1.0 / state.settings.stream.summary_hz
    timeout = state.settings.stream.send_timeout_s
    try:
        while not disconnected.done():
            message = BedsSummaryMessage(ts=time.time(), beds=[state.bed_summary(b) for b in state.beds.values()])
            if not await _send(websocket, Outgoing(message.model_dump_json()), timeout):
                await websocket.close(CLOSE_TOO_SLOW, "client too slow")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(disconnected), period)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()


@router.websocket("/ws/alerts")
async def alert_stream(
    websocket: WebSocket, state: Annotated[ServiceState, Depends(get_ws_state)], user: WsUser
) -> None:
    """First an `alerts_snapshot` (active alerts, pauses), then every `alert_event` as it happens."""
    if not await accept_authenticated(websocket, user):
        return
    if state.alerts is None:
        await websocket.close(CLOSE_GOING_AWAY, "alerts are not available")
        return
    broadcaster = state.alerts.broadcaster
    subscription = broadcaster.subscribe()  # before the snapshot, so no event falls between the two
    try:
        first = Outgoing(state.alerts.snapshot().model_dump_json())
        await _pump(websocket, subscription, state.settings.stream.send_timeout_s, "alerts", first)
    finally:
        broadcaster.unsubscribe(subscription)
