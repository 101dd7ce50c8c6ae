"""The `serve` command (registered in the root CLI). Heavy imports happen inside, so `--help` stays fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from service.ward.roles import Role


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration (default: one synthetic demo bed)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Run `painwatch doctor` on this config and exit (0/1/2) without serving.")
    ] = False,
    role: Annotated[
        Role,
        typer.Option(
            "--role",
            help="node: the config's beds. ward: a view-only node of the ward (needs `node:` and a PostgreSQL "
            "store.url; the config's beds are ignored). See docs/ward.md.",
        ),
    ] = Role.NODE,
) -> None:
    """Run the bedside service: live per-bed pain estimates over WebSocket, REST and /metrics."""
    if check:
        from service.doctor import doctor

        raise typer.Exit(doctor(config))
    from service.config import load_settings
    from service.config.loading import require_tls_files
    from service.serve import build_service, run_server
    from service.ward.roles import apply_role

    settings = apply_role(load_settings(config), role)
    require_tls_files(settings)
    os.umask(0o077)  # everything the service writes (database, snapshots, dead letters) is its user's only
    service = build_service(settings)
    server = settings.server
    scheme, ws_scheme = ("https", "wss") if server.tls else ("http", "ws")
    base = f"{scheme}://{server.host}:{server.port}"
    typer.echo(
        f"painwatch service: {len(settings.beds)} bed(s), model {service.engine.card.name}/"
        f"{service.engine.card.version}"
    )
    typer.echo(f"  dashboard  {base}/")
    typer.echo(f"  API docs   {base}/docs   (log in first: POST {base}/api/auth/login)")
    typer.echo(f"  beds       {base}/api/beds    live: {ws_scheme}://{server.host}:{server.port}/ws/beds/<bed_id>")
    typer.echo(f"  metrics    {base}/metrics")
    if service.initial_admin_password_file is not None:
        # Never the password itself: the console ends up in journald / docker logs.
        typer.echo(
            f"  FIRST START: created user 'admin'; its password is in {service.initial_admin_password_file} "
            "(readable by this OS user only). The first login must set a new one."
        )
    run_server(service)
