"""The ``nuner`` command line, one module per what the commands act on. Torch-using
commands import training lazily, so ``nuner --help`` and the core commands run in
the torch-free serving image."""

from __future__ import annotations

import typer

from nuner.cli import bundles, data, service, store, training
from nuner.core.errors import NunerError

app = typer.Typer(
    help="NuNER Service: few-shot entity taggers from contrastively pre-trained encoders.",
    no_args_is_help=True,
    add_completion=False,
)

# The help lists the commands by panel, in a user's order: the service, the data,
# training, bundles on disk, then the store the service serves from.
PANELS = {
    "Service": (
        service.serve,
        service.worker,
        service.migrate,
        service.info,
        service.install_backbone,
    ),
    "Data": (data.convert, data.sample, data.annotate),
    "Training": (training.finetune, training.evaluate, training.pretrain),
    "Bundles": (bundles.export, bundles.export_encoder, bundles.predict),
    "Store": (
        store.create_tagger,
        store.publish,
        store.publish_encoder,
        store.default_encoder,
        store.build_starter_encoder,
    ),
}
for panel, commands in PANELS.items():
    for command in commands:
        app.command(rich_help_panel=panel)(command)


def main() -> None:
    """The console script: a domain error is one line on stderr, not a traceback."""
    try:
        app()
    except NunerError as error:
        typer.echo(f"error ({error.code}): {error.message}", err=True)
        raise SystemExit(1) from None
