"""The `doctor` command (registered in the root CLI); the checks live in service/doctor.py, imported on use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def doctor_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration to check (default: the embedded demo config)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The checks as JSON instead of a table.")] = False,
) -> None:
    """Check that this host can serve the config: detector models, ONNX Runtime providers, GPU, RealSense cameras,
    each bed's source, the database, TLS, the data folder and the model. Exit 0 all passed, 1 warnings, 2 failures.
    Changes nothing (no migration, no download)."""
    from service.doctor import doctor

    raise typer.Exit(doctor(config, as_json))
