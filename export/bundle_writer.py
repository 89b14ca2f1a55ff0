"""Checkpoint -> verified tagger bundle, written atomically (``nuner export``).

Everything is built in a hidden staging directory beside the target; the
manifest (with the sha256 of every file) is written last and the directory
is renamed into place only when every variant passed verification. A crash
or a refusal leaves no directory that loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from nuner.core.atomic import atomic_directory
from nuner.core.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    TOKENIZER,
    VARIANT_FILES,
    BundleError,
    Manifest,
    VariantInfo,
    check_name,
    file_hashes,
)
from nuner.core.inference import TaggerPipeline
from nuner.core.labels import LabelSet
from nuner.core.onnx_tagger import CPU, CUDA, cuda_offered, open_session, session_logits_fn
from nuner.core.types import Example
from nuner.export.convert import CONVERTERS, export_fp32
from nuner.export.verify import Reference, Tolerances, VerificationReport, verify_variant
from nuner.training.checkpoint import TrainedTagger, window_encoder
from nuner.training.predict import torch_logits_fn


class ExportRefused(BundleError):
    """A variant failed verification; nothing was written."""

    code = "export_refused"
    status = 422

    def __init__(self, report: VerificationReport) -> None:
        super().__init__(f"{report.variant} variant refused: {report.reason}")
        self.report = report


def write_bundle(
    tagger: str | Path | TrainedTagger,
    target: str | Path,
    name: str,
    version: str,
    verification_examples: Sequence[Example],
    variants: Sequence[str] = ("fp32",),
    tolerances: Tolerances | None = None,
    licences: Sequence[str] = (),
    threads: int | None = None,
    optional_variants: Sequence[str] = (),
) -> Manifest:
    """Export ``tagger`` (a checkpoint directory, or a tagger in memory) to a
    verified bundle at ``target``. ``optional_variants`` that fail verification
    are left out (and recorded in the manifest) instead of refusing the whole
    bundle; fp32 is never optional."""
    check_name("tagger name", name)
    check_name("version", version)
    target = Path(target)
    if target.exists():
        raise BundleError(f"{target} already exists: bundles are immutable")
    if not verification_examples:
        raise BundleError("verification needs labelled example sentences")
    if not isinstance(tagger, TrainedTagger):
        tagger = TrainedTagger.load(tagger)
    with atomic_directory(target) as staging:
        return _build(
            tagger,
            staging,
            name,
            version,
            verification_examples,
            ["fp32", *[v for v in variants if v != "fp32"]],
            tolerances or Tolerances(),
            licences,
            threads,
            set(optional_variants) - {"fp32"},
        )


def _build(
    tagger: TrainedTagger,
    staging: Path,
    name: str,
    version: str,
    examples: Sequence[Example],
    variants: list[str],
    tolerances: Tolerances,
    licences: Sequence[str],
    threads: int | None,
    optional: set[str],
) -> Manifest:
    model, info = tagger.model.to("cpu").eval(), tagger.info
    config = model.config
    encoder = window_encoder(model, tagger.tokenizer)
    label_set = LabelSet.from_tags(config.tags)
    aggregation = info.get("config", {}).get("aggregation", "average")
    decoding = info.get("config", {}).get("decoding", "lenient")  # older checkpoints: lenient
    reference = Reference.compute(
        TaggerPipeline(
            encoder, label_set, torch_logits_fn(model), aggregation=aggregation, decoding=decoding
        ),
        examples,
    )

    tagger.tokenizer.backend_tokenizer.save(str(staging / TOKENIZER))
    export_fp32(model, staging / VARIANT_FILES["fp32"])
    records: dict[str, VariantInfo] = {}
    dropped: dict[str, str] = {}
    for variant in variants:
        path = staging / VARIANT_FILES[variant]
        if variant != "fp32":
            CONVERTERS[variant](staging / VARIANT_FILES["fp32"], path)
        provider = CUDA if variant == "fp16" and cuda_offered() else CPU
        session = open_session(path, provider, threads)
        candidate = TaggerPipeline(
            encoder,
            label_set,
            session_logits_fn(session),
            aggregation=aggregation,
            decoding=decoding,
        )
        report = verify_variant(variant, reference, candidate, tolerances)
        if not report.passed and variant in optional:
            path.unlink()
            dropped[variant] = report.reason
            continue
        if not report.passed:
            raise ExportRefused(report)
        records[variant] = VariantInfo(
            file=path.name, verification={**report.to_dict(), "provider": provider}
        )

    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name=name,
        version=version,
        labels=list(label_set.entity_types),
        tags=list(config.tags),
        base_model=config.base_model,
        max_length=config.window_length,
        stride=config.window_stride,
        aggregation=aggregation,
        decoding=decoding,
        created_at=datetime.now(timezone.utc),
        training={
            "data": info.get("data", {}),
            "licences": sorted({*licences, *_backbone_licences(info)}),
            "backbone_pretraining": info.get("backbone_pretraining"),
            "config": info.get("config", {}),
            "alignment": info.get("alignment", {}),
            "warm_start_reads": info.get("warm_start_reads"),
            **({"refused_variants": dropped} if dropped else {}),
        },
        metrics={"dev": info.get("dev_metrics")} if info.get("dev_metrics") else {},
        variants=records,
        files=file_hashes(staging),
    )
    (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest


def _backbone_licences(info: dict) -> list[str]:
    """A bundle inherits the licences of the data its backbone was pre-trained on."""
    return list((info.get("backbone_pretraining") or {}).get("licences") or [])


def manifest_summary(manifest: Manifest) -> str:
    return json.dumps(
        {v: info.verification for v, info in manifest.variants.items()}, indent=2, default=str
    )
