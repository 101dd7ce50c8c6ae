"""Shared test fixtures: real media made by the tests themselves (no downloads), and a throwaway PostgreSQL server.

PostgreSQL: `postgres_url` is `PAINWATCH_TEST_POSTGRES_URL` when set, else the URL of `postgres_server`, a throwaway
cluster (tests/support/postgres.py) per test module. Without usable binaries these tests skip with the reason,
or fail under `CI=true` (tests/support/ci.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.ci import require_or_skip
from tests.support.postgres import PostgresError, ThrowawayPostgres, find_binaries

POSTGRES_URL_ENV = "PAINWATCH_TEST_POSTGRES_URL"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")

VideoMaker = Callable[..., Path]


def grey_level(frame_index: int) -> int:
    """The grey level `make_video` paints frame i with: steps of 8 survive lossy MPEG-4 coding."""
    return (frame_index * 8) % 256


@pytest.fixture
def make_video(tmp_path: Path) -> VideoMaker:
    """Write a real MP4 (mp4v) whose frame i is painted `grey_level(i)`; returns its path."""

    def make(
        name: str = "clip.mp4", seconds: float = 4.0, fps: float = 15.0, size: tuple[int, int] = (160, 120)
    ) -> Path:
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for index in range(round(seconds * fps)):
            frame = np.full((size[1], size[0], 3), grey_level(index), np.uint8)
            writer.write(frame)
        writer.release()
        return path

    return make


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A running throwaway PostgreSQL server of this test module's own (never the external URL). A test may stop
    it (`stop("immediate")` = a database crash) and must `start()` it again (same data, same port) before it ends;
    removed with its data after the module."""
    found = find_binaries()
    if isinstance(found, str):
        require_or_skip(f"PostgreSQL not tested: {found}")
    server = ThrowawayPostgres(found)
    try:
        server.start()
    except PostgresError as exc:
        server.close()
        require_or_skip(f"PostgreSQL not tested: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL URL (postgresql+psycopg://...): `PAINWATCH_TEST_POSTGRES_URL` when set (that server may hold
    data from earlier runs), else the module's `postgres_server` (empty at first)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    return server.url
