"""`painwatch models ...`: provisioning and inspecting model files (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service import model_card
from service.errors import UserError
from service.vision import detector_models

_ROOT_HELP = (
    f"Folder of exported models (default: ${model_card.MODELS_ROOT_ENV}, else this installation's exported_models)."
)

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


@models_app.command("list")
def list_models(
    root: Annotated[Path | None, typer.Option(help=_ROOT_HELP)] = None,
) -> None:
    """List exported pain models (<root>/<name>/<version>/model.onnx) with a line from each card."""
    root = root or model_card.default_models_root()
    folders = model_card.find_exported(root)
    if not folders:
        typer.echo(f"no exported models under {root}")
        return
    for folder in folders:
        try:
            card = model_card.load_card(folder)
        except UserError as exc:
            typer.echo(f"{folder}: card unreadable ({exc})")
            continue
        size_mb = (folder / model_card.MODEL_FILE).stat().st_size / 1e6
        flags = " [demo]" if card.demo else ""
        quant = "" if not card.quantization else " int8" if "int8" in card.quantization else " fp16-weights"
        typer.echo(f"{card.name}/{card.version}{flags}{quant}  {size_mb:.1f} MB  created {card.created}  {folder}")


@models_app.command("show")
def show_model(
    model: Annotated[str, typer.Argument(help="NAME/VERSION under --root, or a model folder.")],
    root: Annotated[Path | None, typer.Option(help=_ROOT_HELP)] = None,
) -> None:
    """Print a model's card (model_card.json)."""
    folder = Path(model) if Path(model).is_dir() else (root or model_card.default_models_root()) / model
    typer.echo(model_card.load_card(folder).to_json(), nl=False)
