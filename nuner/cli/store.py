"""Commands on the service's store of taggers and encoders: publish bundles,
choose the default encoder, build the starter, create a tagger in one step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nuner.app.settings import get_settings
from nuner.cli.options import (
    Backbone,
    BatchSize,
    EncoderRate,
    Epochs,
    Licences,
    MaxDisagreement,
    MaxF1Drop,
    Soup,
    Threads,
    backbone_path,
    finetune_config,
    use_torch,
)
from nuner.core.datasets import read_examples
from nuner.core.hyperparameters import DEFAULTS


def publish(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory from `nuner export`.")],
) -> None:
    """Copy a verified bundle into the store and point its alias at it."""
    from nuner.app.registry import Registry

    registry = Registry.from_settings(get_settings())
    version = registry.publish(bundle)
    typer.echo(f"published {version.ref}")


def publish_encoder(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory from `nuner export-encoder`.")],
    default: Annotated[bool, typer.Option(help="Make it the default encoder.")] = False,
) -> None:
    """Copy a verified encoder bundle into the store (the first becomes the default)."""
    from nuner.app.registry import Registry

    encoders = Registry.from_settings(get_settings()).encoders
    version = encoders.publish(bundle, make_default=default)
    typer.echo(f"published encoder {version.ref}; default: {encoders.default_reference()}")
    if version.non_commercial:
        typer.echo("note: pre-trained on non-commercial data; its weights carry those terms")


def default_encoder(
    encoder: Annotated[
        str | None, typer.Argument(help="name (follows its latest) or name@version.")
    ] = None,
) -> None:
    """Show the default encoder, or make ENCODER the default (no restart needed)."""
    from nuner.app.registry import Registry

    encoders = Registry.from_settings(get_settings()).encoders
    if encoder is not None:
        encoders.set_default(encoder)
    typer.echo(f"default encoder: {encoders.default_reference()} ({encoders.resolve(None).ref})")


def build_starter_encoder() -> None:
    """Pre-train, export and publish the starter encoder on the packaged MIT data
    (what the embedded default does on first start)."""
    from nuner.app.registry import Registry
    from nuner.app.starter import build_starter_encoder as build

    settings = get_settings()
    version = build(Registry.from_settings(settings), settings)
    typer.echo(f"published encoder {version.ref}")


def create_tagger(
    name: Annotated[str, typer.Argument(help="Tagger name (letters, digits, . _ -).")],
    train: Annotated[Path, typer.Option(help="Training examples (.jsonl or CoNLL).")],
    dev: Annotated[Path | None, typer.Option(help="Dev examples: early stopping.")] = None,
    backbone: Backbone = None,
    lr: EncoderRate = DEFAULTS.learning_rate,
    epochs: Epochs = DEFAULTS.epochs,
    batch_size: BatchSize = DEFAULTS.batch_size,
    soup: Soup = DEFAULTS.soup,
    max_f1_drop: MaxF1Drop = 0.5,
    max_disagreement: MaxDisagreement = 0.01,
    licence: Licences = None,
    threads: Threads = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="head (a head over a published encoder) or full; default: NUNER_FINETUNE_MODE."
        ),
    ] = None,
    encoder: Annotated[
        str | None, typer.Option(help="Head mode: encoder name[@version]; default: the default.")
    ] = None,
    description: Annotated[
        list[str] | None,
        typer.Option(
            help="LABEL=TEXT, what the warm start reads for LABEL (head mode, and full mode "
            "on a backbone with a concept encoder)."
        ),
    ] = None,
) -> None:
    """Fine-tune, export (fp32 + int8, verified) and publish a tagger in one step;
    with --mode head, fit a head over a published encoder instead (seconds)."""
    from nuner.app.registry import Registry

    settings = get_settings()
    registry = Registry.from_settings(settings)
    descriptions = _descriptions(description)
    if (mode or settings.finetune_mode) == "head":
        version = _create_head(registry, name, read_examples(train), dev, encoder, descriptions)
        typer.echo(f"published {version.ref} (a head over {version.encoder})")
        return
    use_torch(threads)
    from nuner.app.tagger_builder import build_and_publish
    from nuner.export.verify import Tolerances

    config = finetune_config(
        DEFAULTS.head,
        DEFAULTS.features,
        DEFAULTS.shape_features,
        DEFAULTS.freeze_encoder,
        lr,
        epochs,
        batch_size,
        soup=soup,
    )
    version = build_and_publish(
        registry,
        name,
        backbone_path(backbone),
        read_examples(train),
        config,
        dev=read_examples(dev) if dev else None,
        tolerances=Tolerances(
            max_f1_drop_points=max_f1_drop, max_label_disagreement=max_disagreement
        ),
        licences=licence or [],
        optional_variants=["int8"],
        label_reads=descriptions,
    )
    for variant, reason in version.manifest["training"].get("refused_variants", {}).items():
        typer.echo(f"warning: {variant} variant left out: {reason}", err=True)
    typer.echo(f"published {version.ref}")


def _create_head(registry, name, train, dev, encoder, descriptions):
    from nuner.app.head_builder import HeadBuild, build_and_publish_head
    from nuner.app.loaded import open_encoder

    settings = get_settings()
    version = registry.encoders.resolve(encoder)
    loaded = open_encoder(settings, version.path)
    build = HeadBuild(
        name,
        train,
        dev=read_examples(dev) if dev else None,
        descriptions=descriptions,
    )
    return build_and_publish_head(registry, build, version, loaded)


def _descriptions(items: list[str] | None) -> dict[str, str]:
    pairs = [item.partition("=") for item in items or []]
    if any(not label or not sep or not text for label, sep, text in pairs):
        raise typer.BadParameter("--description takes LABEL=TEXT")
    return {label: text for label, _, text in pairs}
