"""A throwaway PostgreSQL server: its own cluster in a temporary folder, started with Debian's `initdb`/`pg_ctl`
(as the `postgres` user when running as root, since initdb refuses root), on a free loopback port, trust auth.

    server = ThrowawayPostgres()     # PostgresError (with the reason) when no binaries are usable here
    server.start()                   # initdb on the first start, then pg_ctl start -w
    engine = create_engine(server.url)
    server.stop("immediate")         # like a crash of the database server: no checkpoint, recovery at next start
    server.start()                   # the same data folder and port again
    server.close()                   # stop (immediate) and remove the folder

Used by the `postgres_server`/`postgres_url` fixtures (tests/conftest.py) and by bench/durability.py.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from tests.support.network import free_port

USER = "painwatch"
"""The cluster's superuser (trust authentication on loopback: no password in the URL)."""
StopMode = Literal["smart", "fast", "immediate"]


class PostgresError(RuntimeError):
    """The server could not be created, started or stopped; the message says why (with the log's tail)."""


@dataclass(frozen=True)
class PgBinaries:
    bin_dir: Path
    run_as: tuple[str, ...] = ()
    """Command prefix that runs a tool as the `postgres` user (when we are root), else empty."""

    @property
    def owner(self) -> str | None:
        return "postgres" if self.run_as else None

    def command(self, tool: str, *args: str) -> list[str]:
        return [*self.run_as, str(self.bin_dir / tool), *args]


def find_binaries() -> PgBinaries | str:
    """The newest Debian PostgreSQL (/usr/lib/postgresql/*/bin) or `pg_ctl` on PATH, runnable by us; else the
    reason why not (a sentence for a skip message)."""
    bin_dir: Path | None = None
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            bin_dir = Path(candidate)
            break
    if bin_dir is None:
        found = shutil.which("pg_ctl")
        if found is None or not (Path(found).parent / "initdb").exists():
            return "no initdb/pg_ctl found (Debian: apt-get install postgresql)"
        bin_dir = Path(found).parent
    if os.geteuid() != 0:
        return PgBinaries(bin_dir)
    if shutil.which("runuser") is None:
        return "running as root (initdb refuses root) without runuser to start the server as `postgres`"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root (initdb refuses root) and there is no `postgres` user to run the server as"
    return PgBinaries(bin_dir, ("runuser", "-u", "postgres", "--"))


def _version_key(path: str) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,): 9.6 < 10 < 15 (a plain string sort puts 9.6 last)."""
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


class ThrowawayPostgres:
    """One cluster in its own temporary folder; the port is chosen once and kept across restarts."""

    def __init__(self, binaries: PgBinaries | None = None, *, port: int | None = None, fsync: bool = False) -> None:
        """`fsync=False` (default) is safe against killed processes, including the database server itself
        (`stop("immediate")`): committed data is in the OS page cache. Only an OS crash would need fsync."""
        if binaries is None:
            found = find_binaries()
            if isinstance(found, str):
                raise PostgresError(found)
            binaries = found
        self.binaries = binaries
        self.port = port if port is not None else free_port()
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="painwatch-pg-"))
        if binaries.owner is not None:
            shutil.chown(self.root, binaries.owner)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.starts = 0
        self._initialised = False

    # -- connection --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"

    # -- life cycle --------------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """initdb on the first call; then start the server (no-op when it already runs) and wait until it accepts
        connections (after `stop("immediate")` that includes crash recovery)."""
        if not self._initialised:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8", what="initdb")
            self._initialised = True
        if self.running:
            return
        fsync = "on" if self.fsync else "off"
        options = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync={fsync}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", str(round(timeout_s)),
            "start", what="pg_ctl start",
        )  # fmt: skip
        self.starts += 1

    def stop(self, mode: StopMode = "fast", timeout_s: float = 60.0) -> None:
        """`fast`: sessions are ended and a checkpoint written; `immediate`: every process quits at once, as if the
        server had crashed (the next start recovers from the WAL). No-op when it is not running."""
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(round(timeout_s)), "stop",
                  what=f"pg_ctl stop -m {mode}")  # fmt: skip

    def restart(self, mode: StopMode = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        if not self._initialised:
            return False
        status = subprocess.run(self.binaries.command("pg_ctl", "-D", str(self.data), "status"), capture_output=True)
        return status.returncode == 0

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0]) if self.running else None
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        """Stop (immediate: nothing is kept anyway) and remove the folder."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ThrowawayPostgres(port={self.port}, root={str(self.root)!r}, starts={self.starts})"

    # -- internals ---------------------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, what: str) -> None:
        done = subprocess.run(self.binaries.command(tool, *args), capture_output=True, text=True)
        if done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip())[-600:]
            log = self.log_tail(600).strip()
            raise PostgresError(f"{what} failed (exit {done.returncode}): {output}" + (f"\nlog: {log}" if log else ""))
