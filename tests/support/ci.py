"""Skips that CI must not hide: on a developer machine a missing PostgreSQL or browser skips the test with the
reason; with `CI=true` (set by GitHub Actions, GitLab CI and most others) the same test fails, so a CI image that
lost `initdb` or chromium cannot quietly turn those tests off.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_or_skip(reason: str) -> NoReturn:
    """Skip with `reason`; under `CI=true`, fail with it instead."""
    if in_ci():
        pytest.fail(f"CI=true, so this cannot be skipped: {reason}", pytrace=False)
    pytest.skip(reason)
