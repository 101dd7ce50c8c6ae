"""Paths named in a config: always absolute once loaded, so every message names the file it really means."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def absolute(path: Path) -> Path:
    """`~` expanded; a relative path still left (a config file's are resolved against its folder by the loader,
    service/config/loading.py) is taken against the working directory."""
    return path.expanduser().absolute()


ConfigPath = Annotated[Path, AfterValidator(absolute)]
"""A file or folder named in a config or by an environment variable."""


def user_cache_dir() -> Path:
    """painwatch's per-user cache folder: `$XDG_CACHE_HOME/painwatch`, else `~/.cache/painwatch` (the default data
    folder, the detector models, the face photos and TensorRT engines live under it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "painwatch"
