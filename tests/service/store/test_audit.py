"""The audit trail is append-only and hash-chained: the database refuses changes, and `painwatch audit verify` finds
a row changed or removed by someone who dropped the guards (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.store.audit import GENESIS, AuditSealer, verify
from service.store.database import Store
from service.store.writer import AuditEntry, StoreWriter
from tests.support.cli import PAINWATCH


def add_rows(store: Store, n: int, start: int = 0) -> None:
    with store.sessions.begin() as session:
        for i in range(start, start + n):
            store.audit(session, f"nurse-{i % 3}", "bed.pause", {"bed_id": "b1", "i": i, "reason": "care"}, 1000.0 + i)


def painwatch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [*PAINWATCH, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_rows_from_requests_and_the_writer_are_sealed_into_one_chain(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'painwatch.db'}")
    writer = StoreWriter(store, tmp_path, tick_s=0.05)
    add_rows(store, 3)  # committed by a request's transaction
    writer.put(AuditEntry(2000.0, "system", "system.condition_raised", {"name": "store_unavailable"}))
    writer.start()
    try:
        assert writer.flush()
        writer.stop()  # a last seal on the way out
    finally:
        store.close()
    store = Store.open(f"sqlite:///{tmp_path / 'painwatch.db'}")
    result = verify(store)
    assert result.intact and (result.rows, result.unsealed) == (4, 0) and result.head != GENESIS
    with store.engine.connect() as connection:
        links = connection.execute(text("SELECT prev_hash, hash FROM audit_log ORDER BY id")).all()
    assert links[0][0] == GENESIS and all(links[i][0] == links[i - 1][1] for i in range(1, 4))
    store.close()
    ok = painwatch("audit", "verify", "--store", str(tmp_path))
    assert ok.returncode == 0 and ok.stdout.startswith("audit trail intact: 4 sealed row(s), 0 not sealed yet")


def test_the_database_refuses_to_change_or_remove_audit_rows(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'painwatch.db'}")
    add_rows(store, 2)
    AuditSealer(store).seal()
    for statement in (
        "DELETE FROM audit_log WHERE id = 1",
        "UPDATE audit_log SET who = 'someone-else' WHERE id = 1",
        "UPDATE audit_log SET hash = 'x' WHERE id = 2",
    ):
        with pytest.raises(DBAPIError, match="audit_log is append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
    store.close()


def test_verify_names_a_changed_and_a_removed_row_once_the_guards_are_dropped(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'painwatch.db'}")
    add_rows(store, 6)
    assert AuditSealer(store).seal() == 6
    add_rows(store, 1, start=6)  # the newest row, not sealed yet
    with store.engine.begin() as connection:  # someone with database rights covers their tracks
        for name in ("audit_log_no_delete", "audit_log_content_fixed", "audit_log_sealed_once"):
            connection.execute(text(f"DROP TRIGGER {name}"))
        connection.execute(
            text("""UPDATE audit_log SET details = '{"bed_id": "b1", "i": 1, "reason": "none"}'
                                   WHERE id = 2""")
        )
        connection.execute(text("DELETE FROM audit_log WHERE id = 4"))
    result = verify(store)
    store.close()
    assert not result.intact and result.unsealed == 1
    assert result.problems == [
        "row 2: its content does not match its hash (changed)",
        "row 5: its link does not match the row before it (a row was removed or inserted before it)",
    ]
    tampered = painwatch("audit", "verify", "--store", str(tmp_path))
    assert tampered.returncode == 1
    assert "AUDIT TRAIL TAMPERED: 2 problem(s)" in tampered.stderr and "row 2: its content" in tampered.stderr


def test_postgresql_refuses_changes_and_verifies(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    with store.engine.begin() as connection:  # the module's server may hold rows of another test
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        connection.execute(text("DELETE FROM audit_log"))
        connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    add_rows(store, 3)
    AuditSealer(store).seal()
    assert verify(store).intact and verify(store).rows == 3
    with pytest.raises(DBAPIError, match="audit_log is append-only"), store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET action = 'nothing' WHERE action = 'bed.pause'"))
    with pytest.raises(DBAPIError, match="audit_log is append-only"), store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
    store.close()
