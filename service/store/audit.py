"""The audit trail: append-only and hash-chained, so that a changed, removed or inserted row is detected.

Rows are added by whoever acts (a request's transaction, the store writer) without a hash. The store writer's thread
alone *seals* them, in id order: each sealed row stores the previous sealed row's hash (`prev_hash`) and its own
`hash` = SHA-256 over the previous hash and the row's canonical content. One sealer means one chain (no forks), and
the database refuses to delete rows or to change them once sealed (triggers of migration 0004). Someone with
database rights could drop the triggers; `verify` then finds what they changed: a row whose content no longer
matches its hash, or a chain link that does not match its predecessor (a removed or inserted row).
Removing the newest rows leaves an intact but shorter chain: compare `head` with one recorded elsewhere for that.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select

from service.store.database import Store
from service.store.models import AuditRow

logger = logging.getLogger(__name__)

GENESIS: Final = "0" * 64
"""The `prev_hash` of the first sealed row."""
_SEAL_BATCH: Final = 1000


def row_digest(prev_hash: str, row: AuditRow) -> str:
    """SHA-256 over the previous hash and the row's content, in a canonical JSON form."""
    content = [prev_hash, row.id, repr(float(row.ts)), row.who, row.action, row.details]
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class AuditSealer:
    """Seals new audit rows; used by one thread only (the store writer's)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._head_id: int | None = None
        self._head_hash = GENESIS

    def seal(self) -> int:
        """Chain every unsealed row (in id order) in one transaction; returns how many were sealed."""
        with self.store.sessions.begin() as session:
            if self._head_id is None:
                self._load_head(session)
            query = select(AuditRow).where(AuditRow.id > (self._head_id or 0)).order_by(AuditRow.id)
            rows = list(session.scalars(query.limit(_SEAL_BATCH)))
            head_id, head_hash = self._head_id, self._head_hash
            for row in rows:
                row.prev_hash = head_hash
                row.hash = head_hash = row_digest(head_hash, row)
                head_id = row.id
        self._head_id, self._head_hash = head_id, head_hash  # only once committed
        return len(rows)

    def _load_head(self, session: Any) -> None:
        last = session.scalar(select(AuditRow).where(AuditRow.hash.is_not(None)).order_by(AuditRow.id.desc()))
        self._head_id = last.id if last is not None else 0
        self._head_hash = last.hash if last is not None else GENESIS


@dataclass
class Verification:
    rows: int = 0
    """Sealed rows checked."""
    unsealed: int = 0
    """Newest rows not sealed yet (the service seals within about a second)."""
    head: str = GENESIS
    """Hash of the newest sealed row."""
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(store: Store, max_problems: int = 20) -> Verification:
    """Walk the chain from the first row and report every row whose link or content does not match."""
    result = Verification()
    expected_prev = GENESIS
    with store.sessions() as session:
        total = session.scalar(select(func.count()).select_from(AuditRow)) or 0
        for row in session.scalars(select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=1000)):
            if row.hash is None:
                result.unsealed += 1
                continue
            if result.unsealed:
                _problem(result, max_problems, f"row {row.id}: sealed after unsealed rows (rows inserted out of turn)")
            if row.prev_hash != expected_prev:
                _problem(result, max_problems, f"row {row.id}: its link does not match the row before it (a row was "
                         "removed or inserted before it)")  # fmt: skip
            if row_digest(row.prev_hash or "", row) != row.hash:
                _problem(result, max_problems, f"row {row.id}: its content does not match its hash (changed)")
            expected_prev = row.hash
            result.rows += 1
    result.head = expected_prev
    if result.rows + result.unsealed != total:
        _problem(result, max_problems, "the row count changed while verifying")
    return result


def _problem(result: Verification, limit: int, text: str) -> None:
    if len(result.problems) < limit:
        result.problems.append(text)
