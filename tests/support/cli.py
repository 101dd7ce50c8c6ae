"""The `painwatch` command as tests and benches run it: this interpreter and the entry point in the source tree,
never whichever console script happens to be installed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PAINWATCH = [sys.executable, "-c", "from service.main import app; app()"]


def start_serve(
    args: list[str], log: Path, env: Mapping[str, str], cwd: Path | None = None, append: bool = False
) -> subprocess.Popen[str]:
    """`painwatch serve ARGS` as a child process; its console output goes to `log` (an unread pipe would fill up
    and stall it), appended to it with `append` (a node restarted in the same test keeps one log)."""
    with log.open("a" if append else "w") as handle:
        return subprocess.Popen(
            [*PAINWATCH, "serve", *args], stdout=handle, stderr=subprocess.STDOUT, text=True, env=dict(env), cwd=cwd
        )
