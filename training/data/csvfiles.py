"""Reading the pipeline's CSV files: one reader that checks the header and numbers the lines."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from service.errors import UserError


def read_csv_rows(path: Path, required: Sequence[str], expected: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV; a missing file, missing column or no data rows is a UserError."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(missing)}; expected columns: {', '.join(expected)} "
                f"(found: {', '.join(header) or 'none'})"
            )
        reader.fieldnames = header
        # line 1 is the header; DictReader skips blank lines, so count via reader.line_num
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    if not rows:
        raise UserError(f"{path}: has a header but no data rows")
    return rows
