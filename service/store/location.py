"""Where a service's store is, from the command line: a service data folder (holding painwatch.db) or a database URL.

Used by the offline commands that read a service's store (`painwatch audit verify`, `painwatch data export-feedback`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from service.errors import UserError
from service.store.database import DB_FILE_NAME


@dataclass(frozen=True)
class StoreLocation:
    url: str
    data_dir: Path
    """Where the snapshot files live (their paths are stored relative to it)."""


def locate_store(store: str, data_dir: Path | None = None) -> StoreLocation:
    """A service data folder (with painwatch.db) or a database URL; the data folder of a URL is `data_dir`, or
    for a SQLite URL the database file's folder."""
    if "://" not in store:
        folder = Path(store).expanduser()
        if not (folder / DB_FILE_NAME).is_file():
            raise UserError(f"--store {store}: no such store (expected a service data folder with {DB_FILE_NAME})")
        return StoreLocation(f"sqlite:///{folder / DB_FILE_NAME}", data_dir or folder)
    try:
        url = make_url(store)
    except Exception as exc:
        raise UserError(f"--store: not a database URL ({exc})") from exc
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).is_file():
            raise UserError(f"--store {store}: no such store (the SQLite file does not exist)")
        return StoreLocation(store, data_dir or Path(url.database).parent)
    if data_dir is None:
        raise UserError("--store is a server URL: pass --data-dir, the service data folder holding snapshots/")
    return StoreLocation(store, data_dir)
