"""`painwatch models ...`: provisioning and inspecting model files (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.vision import detector_models

models_app = typer.Typer(help="Face-detector models and exported pain models.", no_args_is_help=True)


@models_app.command("fetch-detectors")
def fetch_detectors(
    models_dir: Annotated[
        Path | None,
        typer.Option(help=f"Where to put the models (default: ${detector_models.MODELS_DIR_ENV} or the user cache)."),
    ] = None,
    wheel: Annotated[
        Path | None, typer.Option(help="A mediapipe 0.10.21 wheel already on disk (offline sites).")
    ] = None,
) -> None:
    """Provision the MediaPipe short- and full-range face-detector models (sha256-checked)."""
    paths = detector_models.fetch_detectors(models_dir, wheel)
    for key, path in paths.items():
        typer.echo(f"{key}: {path} (sha256 ok)")
