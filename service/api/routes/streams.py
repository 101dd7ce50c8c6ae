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
import ssl
from typing import Annotated

import websockets
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError
from websockets.asyncio.client import ClientConnection

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
    remote = state.remote_bed(bed_id)
    if bed is None and remote is not None:
        assert caller.user is not None
        state.access.audit(caller.user.name, "stream.subscribe", {"bed_id": bed_id, "node_id": remote.node_id})
        timeout_s, tls = state.settings.stream.send_timeout_s, state.ward.peer_tls if state.ward else None
        await proxy_bed_stream(websocket, caller, remote.advertise_url, bed_id, timeout_s, tls)
        return
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


async def proxy_bed_stream(
    websocket: WebSocket,
    caller: WebSocketCaller,
    node_url: str,
    bed_id: str,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Another ward node's bed: its live stream (JSON + Grad-CAM JPEG) relayed from the owning node, which is
    reached with the caller's own session token (one session table for the ward: the same user and rights there)."""
    url = f"{'wss' if node_url.startswith('https') else 'ws'}{node_url[node_url.index(':') :]}/ws/beds/{bed_id}"
    headers = {"Authorization": f"Bearer {caller.token}"}
    try:
        secure = tls if url.startswith("wss") else None
        connecting = websockets.connect(
            url, additional_headers=headers, open_timeout=5, max_size=MAX_RELAYED, ssl=secure
        )
        async with connecting as upstream:
            relay = asyncio.create_task(_relay(upstream, websocket, timeout_s))
            disconnected = asyncio.create_task(_wait_for_disconnect(websocket))
            ended = asyncio.create_task(_watch_session(caller))
            try:
                await asyncio.wait({relay, disconnected, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (relay, disconnected, ended):
                    task.cancel()
            if ended.done() and not ended.cancelled():
                await _close(websocket, ended.result())
            elif relay.done() and not relay.cancelled():
                await _close(websocket, relay.result())
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        logger.warning("bed %s: cannot reach its node at %s (%s)", bed_id, node_url, type(exc).__name__)
        await _close(websocket, (CLOSE_INTERNAL_ERROR, "the bed's node cannot be reached"))


MAX_RELAYED = 4 * 1024 * 1024
"""Largest relayed message (a Grad-CAM JPEG is some tens of kB)."""


async def _relay(upstream: ClientConnection, websocket: WebSocket, timeout_s: float) -> Closing:
    """Forward every message of the owning node to the browser; returns how to close when either side stops."""
    try:
        async for message in upstream:
            send = websocket.send_text(message) if isinstance(message, str) else websocket.send_bytes(bytes(message))
            try:
                await asyncio.wait_for(send, timeout_s)
            except TimeoutError:
                return CLOSE_TOO_SLOW, "client too slow"
    except websockets.ConnectionClosed:
        pass
    code = upstream.close_code
    if code is None or code in (1005, 1006):  # no close frame from the node: it went away
        return CLOSE_INTERNAL_ERROR, "the bed's node closed the stream"
    return code, upstream.close_reason or ""


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
        first = Outgoing(state.alerts_snapshot().model_dump_json())
        await _pump(websocket, caller, subscription, state.settings.stream.send_timeout_s, "alerts", first)
    finally:
        broadcaster.unsubscribe(subscription)
