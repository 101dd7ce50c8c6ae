"""The NICU dashboard: plain HTML, ES modules and CSS under `static/`, served by the service (no build step)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
