"""Commands that train: fine-tune a tagger, run the few-shot protocol, pre-train
a concept encoder. Each imports torch only when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nuner.app.settings import get_settings
from nuner.cli.options import (
    Backbone,
    BatchSize,
    BestEffort,
    EncoderRate,
    Epochs,
    Features,
    FreezeEncoder,
    Head,
    LearningRate,
    MaxLength,
    Shapes,
    Soup,
    Threads,
    backbone_path,
    finetune_config,
    use_torch,
)
from nuner.core.datasets import read_examples
from nuner.core.hyperparameters import DEFAULTS


def finetune(
    train: Annotated[Path, typer.Option(help="Training examples (.jsonl or CoNLL).")],
    out: Annotated[Path, typer.Option(help="Checkpoint directory to write.")],
    dev: Annotated[Path | None, typer.Option(help="Dev examples: early stopping.")] = None,
    backbone: Backbone = None,
    head: Head = DEFAULTS.head,
    features: Features = DEFAULTS.features,
    shapes: Shapes = DEFAULTS.shape_features,
    freeze_encoder: FreezeEncoder = DEFAULTS.freeze_encoder,
    lr: EncoderRate = DEFAULTS.learning_rate,
    epochs: Epochs = DEFAULTS.epochs,
    batch_size: BatchSize = DEFAULTS.batch_size,
    max_length: MaxLength = DEFAULTS.max_length,
    soup: Soup = DEFAULTS.soup,
    seed: int = DEFAULTS.seed,
    threads: Threads = None,
) -> None:
    """Fine-tune a token tagger and write a checkpoint (safetensors) for export."""
    use_torch(threads)
    from nuner.training.checkpoint import load_fast_tokenizer, save_checkpoint
    from nuner.training.finetune import finetune as run_finetune

    config = finetune_config(
        head,
        features,
        shapes,
        freeze_encoder,
        lr,
        epochs,
        batch_size,
        max_length=max_length,
        soup=soup,
        seed=seed,
    )
    base = backbone_path(backbone)
    train_examples = read_examples(train)
    dev_examples = read_examples(dev) if dev else None
    result = run_finetune(base, train_examples, config, dev=dev_examples)
    data = {
        "train": str(train),
        "train_examples": len(train_examples),
        "dev": str(dev) if dev else None,
    }
    info = result.training_info(config, backbone or get_settings().backbone, data)
    save_checkpoint(out, result.model, load_fast_tokenizer(base), info)
    typer.echo(f"checkpoint written to {out}")


def evaluate(
    dataset: Annotated[Path, typer.Argument(help="Directory with train/dev/test.jsonl.")],
    out: Annotated[Path, typer.Option(help="Directory for results JSON, markdown and plot.")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="Score this checkpoint instead of the protocol.")
    ] = None,
    k: Annotated[list[int], typer.Option(help="Few-shot budgets (repeat).")] = [4, 8, 16],  # noqa: B006
    seeds: Annotated[int, typer.Option(help="Seeds per k (0..N-1).")] = 5,
    split: Annotated[
        str,
        typer.Option(
            help="Split to score: test | dev | selection (dev, or where there is none a "
            "seeded 1,000-sentence train sample, the examples drawn from the rest)."
        ),
    ] = "test",
    max_eval: Annotated[int | None, typer.Option(help="Score only the first N.")] = None,
    backbone: Backbone = None,
    head: Head = DEFAULTS.head,
    features: Features = DEFAULTS.features,
    shapes: Shapes = DEFAULTS.shape_features,
    freeze_encoder: FreezeEncoder = DEFAULTS.freeze_encoder,
    lr: EncoderRate = DEFAULTS.learning_rate,
    epochs: Epochs = DEFAULTS.epochs,
    batch_size: BatchSize = DEFAULTS.batch_size,
    soup: Soup = DEFAULTS.soup,
    threads: Threads = None,
    best_effort: BestEffort = False,
) -> None:
    """Entity-level P/R/F1: of a checkpoint, or of the few-shot protocol (k~2k x seeds)."""
    use_torch(threads)
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint:
        _score_checkpoint(dataset, checkpoint, split, max_eval, out)
        return
    from nuner.training.fewshot import run_fewshot, runs_to_dicts, summarize
    from nuner.training.report import markdown_table, plot_f1_vs_k

    config = finetune_config(
        head, features, shapes, freeze_encoder, lr, epochs, batch_size, soup=soup
    )
    runs = run_fewshot(
        dataset,
        backbone_path(backbone),
        k,
        list(range(seeds)),
        config,
        split,
        max_eval,
        on_run=lambda r: typer.echo(_run_line(r), err=True),
        best_effort=best_effort,
    )
    summary = summarize(runs)
    name = backbone or "default"
    (out / "fewshot.json").write_text(
        json.dumps(
            {
                "config": config.model_dump(),
                "backbone": name,
                "summary": summary,
                "runs": runs_to_dicts(runs),
            },
            indent=2,
        )
    )
    table = markdown_table({name: summary})
    (out / "fewshot.md").write_text(table)
    plot_f1_vs_k({name: summary}, out / "fewshot.png")
    typer.echo(table)


def _score_checkpoint(dataset: Path, checkpoint: Path, split: str, max_eval, out: Path) -> None:
    from nuner.training.fewshot import evaluation_split
    from nuner.training.predict import evaluate_pipeline, load_pipeline

    _, examples = evaluation_split(dataset, split)
    report = evaluate_pipeline(load_pipeline(checkpoint), examples[:max_eval])
    (out / "scores.json").write_text(json.dumps(report.to_dict(), indent=2))
    typer.echo(json.dumps(report.to_dict()["micro"], indent=2))


def _run_line(run) -> str:
    line = f"k={run.k} seed={run.seed} f1={run.f1:.4f}"
    if run.best_effort:
        line += f" (best effort: mentions per type {run.mentions_per_type})"
    return line


def pretrain(
    data: Annotated[
        list[Path], typer.Argument(help="Annotated JSONL files or dataset directories.")
    ],
    out: Annotated[Path, typer.Option(help="Backbone directory to write (and resume).")],
    backbone: Backbone = None,
    epochs: Epochs = 3,
    batch_size: BatchSize = 16,
    lr: LearningRate = 5e-5,
    max_length: MaxLength = 128,
    negatives: Annotated[int, typer.Option(help="Sampled negative concepts per batch.")] = 64,
    negative_alpha: Annotated[
        float, typer.Option(help="Negatives drawn with probability count ** alpha.")
    ] = 0.75,
    frozen_layers: Annotated[
        int | None, typer.Option(help="Bottom text-encoder layers frozen (default half).")
    ] = None,
    fraction: Annotated[float, typer.Option(help="Share of each data file used.")] = 1.0,
    licence: Annotated[
        list[str] | None, typer.Option(help="NAME=LICENCE for a data file not known here.")
    ] = None,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from the last epoch checkpoint.")] = True,
    threads: Threads = None,
) -> None:
    """Contrastive concept pre-training (NuNER): writes a backbone for `nuner finetune`.

    Under `torchrun --nproc-per-node N -m nuner.cli pretrain ...` it trains on N processes."""
    use_torch(threads)
    from nuner.training.pretrain.data import load_sources
    from nuner.training.pretrain.trainer import PretrainConfig
    from nuner.training.pretrain.trainer import pretrain as run_pretrain

    licences = dict(item.split("=", 1) for item in licence or [])
    examples, sources = load_sources(data, fraction, seed, licences)
    for source in sources:
        typer.echo(f"{source['name']}: {source['sentences']} sentences ({source['licence']})")
    config = PretrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        max_length=max_length,
        negatives=negatives,
        negative_alpha=negative_alpha,
        frozen_layers=frozen_layers,
        seed=seed,
    )
    result = run_pretrain(backbone_path(backbone), examples, config, out, sources, resume=resume)
    typer.echo(f"backbone written to {out} ({result.tokens_per_second:.0f} tokens/s this run)")
