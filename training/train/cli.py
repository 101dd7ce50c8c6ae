"""`painwatch train`: the command. TensorFlow is imported inside it, so `painwatch --help` stays TF-free."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)


def train_command(
    config: Annotated[
        str, typer.Option("--config", "-c", help="Preset (mpain, icope, mpain_icope, videodol) or a YAML file.")
    ],
    dataset: Annotated[
        list[Path], typer.Option("--dataset", "-d", help="dataset.csv; repeat for several (order matters).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder (checkpoints, report, results.json).")],
    backbone_weights: Annotated[
        Path | None,
        typer.Option(help="VGG-Face notop weights (rcmalli_vggface_tf_notop_vgg16.h5) or a Keras .weights.h5."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override training.max_epochs.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in the output folder.")] = False,
) -> None:
    """Grouped cross-validation of the thesis model: per-fold checkpoints, final/ checkpoint, report."""
    from training.train.config import load_config

    train_config = load_config(Path(config) if config.endswith((".yaml", ".yml")) else config)
    if epochs is not None:
        train_config = train_config.with_epochs(epochs)
    command = command_line(config, dataset, output, backbone_weights, epochs, overwrite)
    from training.train.plan import plan_run

    plan = plan_run(train_config, dataset, output, backbone_weights, command, overwrite=overwrite)
    from training.train.run import execute  # TensorFlow loads here, after the cheap checks

    results = execute(plan)
    summary = results["summary"]
    typer.echo(
        f"{output}: {results['experiment']}, {len(results['folds'])} fold(s): "
        + ", ".join(f"{name} {summary[name]['mean']:.3f}±{summary[name]['std']:.3f}" for name in ("accuracy", "f1"))
        + f"; roc_auc {_maybe(summary['roc_auc']['mean'])}; report {output / 'report.md'}; "
        f"final checkpoint {results['final']['folder']}"
    )


def command_line(
    config: str, datasets: list[Path], output: Path, weights: Path | None, epochs: int | None, overwrite: bool
) -> str:
    """The command as a user would retype it (rebuilt from the parsed options, so it is the same in-process)."""
    args = ["painwatch", "train", "--config", config]
    for dataset in datasets:
        args += ["--dataset", str(dataset)]
    args += ["-o", str(output)]
    if weights is not None:
        args += ["--backbone-weights", str(weights)]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if overwrite:
        args.append("--overwrite")
    return shlex.join(args)


def _maybe(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
