"""WebSockets: per-bed frame stream (JSON, then an optional Grad-CAM JPEG), the all-beds summary, alerts.

Each needs a logged-in user (bearer header or session cookie); without one it is closed with 1008. Every stream
re-checks its session about once a second (which also counts as activity, so an open stream does not idle out)
and closes with 1008 "session ended" once it is over: logout, expiry, idle timeout, a changed or deleted user.

A client only ever reads from its own bounded queue (filled by the broadcaster, oldest dropped when full),
so a slow client loses frames instead of slowing anything down; one that accepts nothing for
`send_timeout_s` is closed. On shutdown every client gets a close frame (1001).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import CLOSE_POLICY_VIOLATION, WebSocketCaller, WsCaller, accept_authenticated
from service.api.state import ServiceState, get_ws_state
from service.pipeline.broadcaster import Outgoing, Subscription

logger = logging.getLogger(__name__)

router = APIRouter(tags=["streams"])

CLOSE_GOING_AWAY = 1001
CLOSE_UNKNOWN_BED = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_INTERNAL_ERROR = 1011
SESSION_CHECK_S = 1.0
"""How often a stream re-checks its session: a logged-out or deleted user stops receiving within about a second."""

Closing = tuple[int, str]


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Clients send nothing we need; reading is how a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _watch_session(caller: WebSocketCaller) -> Closing:
    """Returns how to close the WebSocket once its session has ended (checked every SESSION_CHECK_S)."""
    while True:
        await asyncio.sleep(SESSION_CHECK_S)
        try:
            if not await caller.session_valid():
                return CLOSE_POLICY_VIOLATION, "session ended"
        except SQLAlchemyError as exc:  # memory can no longer vouch for the session: let the client reconnect
            logger.warning("closing a WebSocket: its session cannot be checked (%s)", type(exc).__name__)
            return CLOSE_INTERNAL_ERROR, "store unavailable"


async def _close(websocket: WebSocket, closing: Closing) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(*closing), 1.0)


@router.websocket("/ws/beds/{bed_id}")
async def bed_stream(
    websocket: WebSocket, bed_id: str, state: Annotated[ServiceState, Depends(get_ws_state)], caller: WsCaller
) -> None:
    if not await accept_authenticated(websocket, caller):
        return
    bed = state.beds.get(bed_id)
    if bed is None:
        await websocket.close(CLOSE_UNKNOWN_BED, f"unknown bed {bed_id!r}")
        return
    assert caller.user is not None
    state.access.audit(caller.user.name, "stream.subscribe", {"bed_id": bed_id})  # live faces: who watched which bed
    subscription = bed.broadcaster.subscribe()
    try:
        await _pump(websocket, caller, subscription, state.settings.stream.send_timeout_s, f"bed {bed_id}")
    finally:
        bed.broadcaster.unsubscribe(subscription)


async def _pump(
    websocket: WebSocket,
    caller: WebSocketCaller,
    subscription: Subscription,
    timeout_s: float,
    what: str,
    first: Outgoing | None = None,
) -> None:
    """Send `first`, then every item of the subscription's bounded queue until the client leaves, its session
    ends, the service shuts down (a None item) or the client stays stuck for timeout_s (closed, so it can
    reconnect fresh)."""
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    ended = asyncio.create_task(_watch_session(caller))
    try:
        pending = [first] if first is not None else []
        while True:
            if ended.done():
                await _close(websocket, ended.result())
                return
            if pending:
                item: Outgoing | None = pending.pop()
            else:
                next_item = asyncio.create_task(subscription.queue.get())
                done, _ = await asyncio.wait({next_item, disconnected, ended}, return_when=asyncio.FIRST_COMPLETED)
                if next_item not in done:
                    next_item.cancel()
                    if disconnected in done:
                        return
                    continue  # the session ended: closed at the top of the loop
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
        ended.cancel()


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
    websocket: WebSocket, state: Annotated[ServiceState, Depends(get_ws_state)], caller: WsCaller
) -> None:
    if not await accept_authenticated(websocket, caller):
        return
    disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
    ended = asyncio.create_task(_watch_session(caller))
    period = 1.0 / state.settings.stream.summary_hz
    timeout = state.settings.stream.send_timeout_s
    try:
        while not disconnected.done():
            if ended.done():
                await _close(websocket, ended.result())
                return
            message = state.summary_message()
            if not await _send(websocket, Outgoing(message.model_dump_json()), timeout):
                await websocket.close(CLOSE_TOO_SLOW, "client too slow")
                return
            await asyncio.wait({disconnected, ended}, timeout=period)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()
        ended.cancel()


@router.websocket("/ws/alerts")
async def alert_stream(
    websocket: WebSocket, state: Annotated[ServiceState, Depends(get_ws_state)], caller: WsCaller
) -> None:
    """First an `alerts_snapshot` (active alerts, pauses), then every `alert_event` as it happens."""
    if not await accept_authenticated(websocket, caller):
        return
    if state.alerts is None:
        await websocket.close(CLOSE_GOING_AWAY, "alerts are not available")
        return
    broadcaster = state.alerts.broadcaster
    subscription = broadcaster.subscribe()  # before the snapshot, so no event falls between the two
    try:
        first = Outgoing(state.alerts.snapshot().model_dump_json())
        await _pump(websocket, caller, subscription, state.settings.stream.send_timeout_s, "alerts", first)
    finally:
        broadcaster.unsubscribe(subscription)
