"""`painwatch data ...`: the dataset pipeline. Nothing here imports TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.errors import UserError

data_app = typer.Typer(
    help="Build labelled face-crop datasets from annotated videos (no TensorFlow).", no_args_is_help=True
)


# --- face crops (training/data/crops.py, images.py, compare.py) ---------------------------------------------
_DETECTOR_HELP = "Face detector: mediapipe-short, mediapipe-full or opencv-haar."
_MODELS_DIR_HELP = (
    "Folder of the MediaPipe detector models (default: $PAINWATCH_MODELS_DIR or the user cache)."
)


@data_app.command("crop")
def crop_command(
    frames_dir: Annotated[Path, typer.Argument(help="Folder with frames.csv (`painwatch data extract`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to create.")],
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "mediapipe-short",
    margin: Annotated[float, typer.Option(help="Context around the face (fraction of its side).")] = 0.2,
    size: Annotated[int, typer.Option(help="Crop side in pixels (the model input).")] = 224,
    min_score: Annotated[float, typer.Option(help="Lowest detection score accepted.")] = 0.5,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
    source: Annotated[str, typer.Option(help="source when frames.csv has no such column.")] = "video",
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Detect and crop the face of every labelled frame: dataset.csv + crops/ + no_face.csv."""
    from service.vision.crop import CropSpec
    from training.data.crops import LABEL_IMPORT_COMMAND, crop_frames

    try:
        spec = CropSpec(size=size, margin=margin)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    summary = crop_frames(frames_dir, output, detector, spec, min_score, models_dir, force, source)
    typer.echo(f"{output}: {summary.line()}")
    if summary.skipped_unlabelled:
        typer.echo(f"label the skipped frames with `{LABEL_IMPORT_COMMAND}`, then crop again", err=True)


@data_app.command("import-images")
def import_images_command(
    folder: Annotated[Path, typer.Argument(help="Folder of face images (already cropped, e.g. iCOPE).")],
    labels: Annotated[Path, typer.Option(help="CSV: path, subject_id, label (pain/nonpain or 1/0).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to create.")],
    name: Annotated[str, typer.Option(help="Dataset name: id prefix and source.")] = "icope",
    size: Annotated[int, typer.Option(help="Crop side in pixels (the model input).")] = 224,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Turn a labelled folder of face images into a dataset.csv like `data crop` writes."""
    from training.data.images import import_images

    count = import_images(folder, labels, output, name, size, force)
    typer.echo(f"{output}: {count} crops from {folder}")


@data_app.command("compare-detectors")
def compare_detectors_command(
    frames_dir: Annotated[Path, typer.Argument(help="Folder with frames.csv, or any folder of .jpg/.png.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the tables (default: FRAMES_DIR).")
    ] = None,
    detectors: Annotated[
        list[str] | None, typer.Option("--detectors", help="Detectors to compare (repeat; default: all).")
    ] = None,
    min_score: Annotated[float, typer.Option(help="Lowest detection score accepted.")] = 0.5,
    models_dir: Annotated[Path | None, typer.Option(help=_MODELS_DIR_HELP)] = None,
) -> None:
    """No-face rate and ms per frame of each face detector (the thesis's Table 4.1) on your frames."""
    from service.vision.detectors import DETECTORS
    from training.data.compare import COMPARISON_CSV, COMPARISON_MD, compare_detectors, markdown_table

    names = _split_names(detectors) if detectors else list(DETECTORS)
    results = compare_detectors(frames_dir, output, names, min_score, models_dir)
    typer.echo(markdown_table(results), nl=False)
    target = output if output is not None else frames_dir
    typer.echo(f"wrote {target / COMPARISON_CSV} and {target / COMPARISON_MD}")


def _split_names(values: list[str]) -> list[str]:
    """Accept both `--detectors a --detectors b` and `--detectors a,b`."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]
