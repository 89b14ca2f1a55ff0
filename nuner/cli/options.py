"""Option types and helpers that several commands share, so one option reads
the same in every command."""

from __future__ import annotations

from typing import Annotated

import typer

from nuner.app.settings import get_settings
from nuner.core.backbones import resolve_backbone
from nuner.core.hyperparameters import FinetuneConfig

Backbone = Annotated[
    str | None,
    typer.Option(help="'default' (packaged all-MiniLM-L6-v2), a local HF directory or a hub id."),
]

Head = Annotated[str, typer.Option(help="Classification head: linear | mlp (two-layer).")]

Features = Annotated[
    str, typer.Option(help="Token features: last | two_emb (last + middle layer).")
]

Shapes = Annotated[
    str,
    typer.Option(
        help="Word shapes (case, digits) of the text as written: input | head | none "
        "(uncased tokenizers lose them)."
    ),
]

FreezeEncoder = Annotated[bool, typer.Option(help="Train the head only, encoder frozen.")]

LearningRate = Annotated[float, typer.Option("--lr", help="Learning rate.")]

EncoderRate = Annotated[
    float | None,
    typer.Option("--lr", help="Encoder learning rate (default: 1e-4 under a warm head, or 2e-4)."),
]

Epochs = Annotated[int, typer.Option(help="Maximum epochs.")]

BatchSize = Annotated[int, typer.Option(help="Windows per batch.")]

Soup = Annotated[
    int, typer.Option(help="Fine-tunes from one start averaged into the tagger (model soup).")
]

MaxLength = Annotated[int, typer.Option(help="Tokens per window (special tokens included).")]

Threads = Annotated[int | None, typer.Option(help="CPU threads for torch.")]

BestEffort = Annotated[
    bool,
    typer.Option(
        help="Where no k~2k draw exists (small dense sets), use the closest one and report "
        "the mentions per type it reached."
    ),
]

MaxF1Drop = Annotated[float, typer.Option(help="Refuse a variant above this F1 drop, points.")]

MaxDisagreement = Annotated[
    float, typer.Option(help="Refuse a variant above this share of differing token labels.")
]

Licences = Annotated[list[str] | None, typer.Option(help="Licence of the training data (repeat).")]


def finetune_config(
    head: str,
    features: str,
    shapes: str,
    freeze_encoder: bool,
    lr: float,
    epochs: int,
    batch_size: int,
    **extra: object,
) -> FinetuneConfig:
    """The options' names (``--shapes``, ``--lr``) mapped to the config's fields."""
    return FinetuneConfig(
        head=head,
        features=features,
        shape_features=shapes,
        freeze_encoder=freeze_encoder,
        learning_rate=lr,
        epochs=epochs,
        batch_size=batch_size,
        **extra,
    )


def use_torch(threads: int | None) -> None:
    """Import torch only in the commands that train, and give it the thread budget."""
    from nuner.training.torch_setup import prepare_torch

    prepare_torch(threads or get_settings().num_threads)


def backbone_path(name: str | None) -> str:
    """A ``--backbone`` value (else the setting) resolved: a named or local backbone,
    or a hub id only where the settings allow downloads."""
    settings = get_settings()
    return resolve_backbone(
        name or settings.backbone, settings.allow_hub_downloads, settings.backbones_dir
    )
