"""The `painwatch` command. Sub-apps import their heavy modules lazily, so `--help` stays fast and TF-free."""

from __future__ import annotations

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
from training.data.cli import data_app
from training.evaluate.cli import eval_video_command
from training.model.cli import export_command, model_app
from training.train.cli import train_command

logger = logging.getLogger(__name__)

_app = typer.Typer(
    name="painwatch",
    help="painwatch: infant pain monitoring from facial expressions. Training pipeline and bedside service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_app.add_typer(data_app, name="data")
_app.add_typer(models_app, name="models")
_app.command("train")(train_command)
_app.add_typer(model_app, name="model")
_app.command("export")(export_command)
_app.command("serve")(serve_command)
_app.command("doctor")(doctor_command)
_app.command("eval-video")(eval_video_command)
_app.add_typer(audit_app, name="audit")


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
    except Exception as exc:  # click usage errors carry their own exit code (2)
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
