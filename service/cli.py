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


@models_app.command("triton-repo")
def triton_repo(
    models: Annotated[list[str], typer.Argument(help="NAME/VERSION under --root (or model folders) to publish.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The Triton model repository (created if missing).")],
    root: Annotated[Path | None, typer.Option(help=_ROOT_HELP)] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="Triton backend: onnxruntime (GPU servers, NGC image) or python (onnxruntime in "
            "Triton's Python backend, e.g. the nvidia-pytriton wheel's server)."
        ),
    ] = "onnxruntime",
    kind: Annotated[str, typer.Option(help="Where Triton runs the model instances: gpu or cpu.")] = "gpu",
    instances: Annotated[int, typer.Option(help="Model instances (per GPU with --kind gpu).")] = 1,
    max_batch: Annotated[
        int, typer.Option(help="Triton's max_batch_size: at least each painwatch node's model.max_batch.")
    ] = 32,
    max_queue_delay_us: Annotated[
        int, typer.Option(help="Dynamic batching: how long Triton holds a request to batch it with others.")
    ] = 500,
    tensorrt_fp16: Annotated[
        bool,
        typer.Option(
            help="TensorRT with FP16 as the GPU accelerator (--backend onnxruntime --kind gpu); the service's "
            "reference-set check through Triton refuses it if the numbers drift beyond the export's tolerances."
        ),
    ] = False,
) -> None:
    """Write an NVIDIA Triton model repository for exported models (checked first; SHA-256 recorded per version)."""
    from service.inference.triton_repo import RepoOptions, write_repository

    if backend not in ("onnxruntime", "python"):
        raise UserError(f"--backend: {backend!r} is not one of onnxruntime, python")
    if kind not in ("gpu", "cpu"):
        raise UserError(f"--kind: {kind!r} is not one of gpu, cpu")
    base = root or model_card.default_models_root()
    folders = [Path(m) if Path(m).is_dir() else base / m for m in models]
    options = RepoOptions(backend, kind, instances, max_batch, max_queue_delay_us, tensorrt_fp16)  # type: ignore[arg-type]
    published = write_repository(folders, out, options)
    for item in published:
        typer.echo(f"{item.name}/{item.version}: {item.folder / item.version} (sha256 {item.sha256[:16]}...)")
    typer.echo(
        f"{len(published)} model version(s) in {out}; start Triton with --model-repository={out.absolute()} and set "
        "model.backend: triton"
    )
