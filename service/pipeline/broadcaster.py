"""Per-bed fan-out from the analysis thread to WebSocket clients, without ever waiting on a client.

`publish` is called from the bed's worker thread; it hands the item to each subscriber's event loop with
`call_soon_threadsafe` and returns at once. Each subscriber has a bounded queue; when it is full the
*oldest* item is dropped (a live view wants the newest frame) and the drop is counted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """One frame's worth of WebSocket messages: the JSON text, then optionally the heatmap JPEG."""

    text: str
    jpeg: bytes | None = None


class Subscription:
    def __init__(self, loop: asyncio.AbstractEventLoop, max_queue: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Outgoing | None] = asyncio.Queue(maxsize=max_queue)
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def offer(self, item: Outgoing | None) -> None:
        """Runs on the subscriber's loop: enqueue, dropping the oldest item when full (None = close)."""
        if self.closed:
            return
        if self.queue.full():
            try:
                self.queue.get_nowait()
                self.dropped += 1
            except asyncio.QueueEmpty:
                pass
        self.queue.put_nowait(item)


class Broadcaster:
    def __init__(self, name: str, max_queue: int = 8) -> None:
        self.name = name
        self.max_queue = max_queue
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self.published = 0
        self.dropped_closed = 0
        """Drops counted by subscriptions that have since gone away."""

    def subscribe(self) -> Subscription:
        """Call from the subscriber's event loop."""
        sub = Subscription(asyncio.get_running_loop(), self.max_queue)
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.discard(sub)
                self.dropped_closed += sub.dropped

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def dropped_total(self) -> int:
        with self._lock:
            return self.dropped_closed + sum(s.dropped for s in self._subscribers)

    def queue_depths(self) -> list[int]:
        with self._lock:
            return [s.queue.qsize() for s in self._subscribers]

    def publish(self, item: Outgoing) -> None:
        """Thread-safe and non-blocking: the caller never waits for any client."""
        self.published += 1
        self._send_to_all(item)

    def close_all(self) -> None:
        """Tell every subscriber to close (shutdown)."""
        self._send_to_all(None)

    def _send_to_all(self, item: Outgoing | None) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, item)
            except RuntimeError:  # the subscriber's loop has closed
                self.unsubscribe(sub)
