"""`painwatch data ...`: the dataset pipeline. Nothing here imports TensorFlow."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Build labelled face-crop datasets from annotated videos (no TensorFlow).", no_args_is_help=True)
