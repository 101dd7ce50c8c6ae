"""The `painwatch` command (the console script). It lives with the service so that a bedside node installed without
the training package (a cot node running the Triton backend: no TensorFlow, no training code) still has it.

The service commands (serve, doctor, models, audit) are always there; the training commands (data, train, model,
export, eval-video) are added only when the `training` package is importable. Sub-apps import their heavy modules
lazily, so `--help` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Annotated

import typer

from service.audit_cli import audit_app
from service.cli import models_app
from service.doctor_cli import doctor_command
from service.errors import UserError
from service.logging_setup import configure_logging
from service.serve_cli import serve_command

logger = logging.getLogger(__name__)

TRAINING_PACKAGE = "training"

_app = typer.Typer(
    name="painwatch",
    help="painwatch: infant pain monitoring from facial expressions. Training pipeline and bedside service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_app.add_typer(models_app, name="models")
_app.command("serve")(serve_command)
_app.command("doctor")(doctor_command)
_app.add_typer(audit_app, name="audit")


def training_installed() -> bool:
    """Whether the training package can be imported here (a cot node's image has only the service)."""
    try:
        return importlib.util.find_spec(TRAINING_PACKAGE) is not None
    except (ImportError, ValueError):  # a broken or deliberately hidden package counts as absent
        return False


def _register_training_commands(app: typer.Typer) -> None:
    """data, train, model, export, eval-video: their modules import TensorFlow only when a command runs."""
    from training.data.cli import data_app
    from training.evaluate.cli import eval_video_command
    from training.model.cli import export_command, model_app
    from training.train.cli import train_command

    app.add_typer(data_app, name="data")
    app.command("train")(train_command)
    app.add_typer(model_app, name="model")
    app.command("export")(export_command)
    app.command("eval-video")(eval_video_command)


if training_installed():
    _register_training_commands(_app)


@_app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    configure_logging(verbose)


def app() -> None:
    """Console-script entry: user errors become one clear message and exit code 2."""
    try:
        code = _app(standalone_mode=False)  # without standalone mode click returns typer.Exit's code
    except UserError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors (click's, or the click typer vendors) carry their own exit code (2)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
