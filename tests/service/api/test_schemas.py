"""The committed JSON Schemas are exactly what the message models produce."""

from __future__ import annotations

from service.api.schemas import SCHEMA_DIR, SCHEMAS, schema_text


def test_committed_schemas_match_the_models() -> None:
    for name, model in SCHEMAS.items():
        committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert committed == schema_text(model), f"{name} is out of date: run `python -m service.api.schemas`"
