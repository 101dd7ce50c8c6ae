"""JSON Schemas of the wire format, committed under docs/schemas/ (a test keeps them equal to the models).

Regenerate after changing a message model: `python -m service.api.schemas`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from service.alerts.models import AlertEventMessage, AlertsSnapshotMessage
from service.files import atomic_open
from service.pipeline.messages import BedFrameMessage, BedsSummaryMessage

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SCHEMAS: dict[str, type[BaseModel]] = {
    "bed_frame.schema.json": BedFrameMessage,
    "beds_summary.schema.json": BedsSummaryMessage,
    "alert_event.schema.json": AlertEventMessage,
    "alerts_snapshot.schema.json": AlertsSnapshotMessage,
}


def schema_text(model: type[BaseModel]) -> str:
    schema: dict[str, Any] = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, model in SCHEMAS.items():
        with atomic_open(folder / name, "w", encoding="utf-8") as handle:
            handle.write(schema_text(model))
        written.append(folder / name)
    return written


if __name__ == "__main__":
    write_schemas()
