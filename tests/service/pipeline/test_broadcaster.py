"""Fan-out to clients: publishing never waits; a full client queue drops its oldest item and counts it."""

from __future__ import annotations

import asyncio
import threading
import time

from service.pipeline.broadcaster import Broadcaster, Outgoing


def test_slow_subscriber_drops_oldest_and_publisher_never_blocks() -> None:
    async def scenario() -> tuple[list[str], int, float]:
        broadcaster = Broadcaster("bed", max_queue=3)
        sub = broadcaster.subscribe()

        def publish_many() -> None:
            for i in range(50):
                broadcaster.publish(Outgoing(f"m{i}"))

        started = time.perf_counter()
        thread = threading.Thread(target=publish_many)
        thread.start()
        thread.join()
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.05)  # let the loop run the hand-offs
        got = [sub.queue.get_nowait().text for _ in range(sub.queue.qsize())]  # type: ignore[union-attr]
        broadcaster.unsubscribe(sub)
        return got, broadcaster.dropped_total, elapsed

    got, dropped, elapsed = asyncio.run(scenario())
    assert got == ["m47", "m48", "m49"]  # the newest survive
    assert dropped == 47
    assert elapsed < 1.0


def test_close_all_sends_the_close_marker() -> None:
    async def scenario() -> object:
        broadcaster = Broadcaster("bed", max_queue=2)
        sub = broadcaster.subscribe()
        broadcaster.close_all()
        return await asyncio.wait_for(sub.queue.get(), 1.0)

    assert asyncio.run(scenario()) is None
