"""Commands on bundle directories outside the store: export a checkpoint or a
pre-trained encoder to verified ONNX, tag texts with a bundle or checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nuner.cli.options import Licences, MaxDisagreement, MaxF1Drop, Threads, use_torch
from nuner.core.datasets import read_examples


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
    use_torch(threads)
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


def _training_data(checkpoint: Path) -> Path:
    info_file = checkpoint / "training.json"
    data = json.loads(info_file.read_text()).get("data", {}) if info_file.is_file() else {}
    for key in ("dev", "train"):
        if data.get(key) and Path(data[key]).is_file():
            return Path(data[key])
    raise typer.BadParameter("no labelled data recorded in the checkpoint: pass --verify-data")


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
    use_torch(threads)
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


def _load_tagger(path: Path, threads: int | None):
    from nuner.core.bundle import MANIFEST

    if (path / MANIFEST).is_file():
        from nuner.core.onnx_tagger import OnnxTagger

        return OnnxTagger(path, threads=threads)
    use_torch(threads)
    from nuner.training.predict import load_pipeline

    return load_pipeline(path)
