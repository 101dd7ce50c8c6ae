"""`painwatch audit verify`: is the service's audit trail intact? (exit 0 intact, 1 tampered, 2 bad input)."""

from __future__ import annotations

from typing import Annotated

import typer

audit_app = typer.Typer(help="The service's audit trail (append-only, hash-chained).", no_args_is_help=True)


@audit_app.command("verify")
def verify_command(
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="The service data folder (holding painwatch.db) or a database URL [default: data_dir]."
        ),
    ] = None,
) -> None:
    """Check every audit row's hash and link: a changed, removed or inserted row is named (exit code 1)."""
    from service.config.settings import default_data_dir
    from service.store.audit import verify
    from service.store.database import Store, create_db_engine
    from service.store.location import locate_store

    location = locate_store(store or str(default_data_dir()))
    opened = Store(create_db_engine(location.url))  # no migration: a verifier never changes what it checks
    try:
        result = verify(opened)
    finally:
        opened.close()
    if result.intact:
        typer.echo(
            f"audit trail intact: {result.rows} sealed row(s), {result.unsealed} not sealed yet; head {result.head}"
        )
        return
    typer.echo(f"AUDIT TRAIL TAMPERED: {len(result.problems)} problem(s) in {result.rows} sealed row(s)", err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)
