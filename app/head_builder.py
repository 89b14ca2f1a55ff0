"""Examples -> head fitted on a published encoder -> head bundle -> published.

The pipeline behind ``nuner create-tagger --mode head`` and the fine-tune
worker's head jobs. Torch-free: the features come from the encoder's ONNX
bundle, the very one the service runs (and the head pins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nuner.app.encoder_registry import EncoderVersion
from nuner.app.jobs.builds import BUILD_PREFIX, build_directory
from nuner.app.registry import Registry, TaggerVersion
from nuner.core.bundle import check_name
from nuner.core.head_bundle import EncoderPin
from nuner.core.hyperparameters import HEAD_DEFAULTS, HeadFitConfig
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.types import Example
from nuner.export.head_writer import HeadSpec, write_head_bundle
from nuner.training.head import fit_head, head_report


@dataclass(frozen=True)
class HeadBuild:
    """One head to fit: its name, examples and settings."""

    name: str
    train: Sequence[Example]
    config: HeadFitConfig = HEAD_DEFAULTS
    dev: Sequence[Example] | None = None
    descriptions: Mapping[str, str] = field(default_factory=dict)
    licences: Sequence[str] = ()


def build_and_publish_head(
    registry: Registry,
    build: HeadBuild,
    encoder_version: EncoderVersion,
    encoder: OnnxEncoder,
    build_prefix: str = BUILD_PREFIX,
) -> TaggerVersion:
    """``encoder`` is ``encoder_version`` loaded (a worker keeps it between jobs)."""
    check_name("tagger name", build.name)
    fitted = fit_head(encoder, build.train, build.config, build.descriptions)
    metrics = {}
    if build.dev:
        outputs = encoder.encode_texts([e.text for e in build.dev])
        report = head_report(outputs, fitted.weights, fitted.labels, fitted.threshold, build.dev)
        metrics["dev"] = report.to_dict()
    licences = sorted({*build.licences, *encoder.manifest.licences})
    spec = HeadSpec(
        name=build.name,
        version=registry.next_version(build.name),
        labels=fitted.labels,
        encoder=EncoderPin(
            name=encoder_version.name, version=encoder_version.version, sha256=encoder.digest
        ),
        threshold=fitted.threshold,
        training={
            "mode": "head",
            "data": {"train_examples": len(build.train), "dev_examples": len(build.dev or [])},
            "licences": licences,
            "non_commercial": encoder.manifest.non_commercial,
            "config": build.config.model_dump(),
            "descriptions": dict(build.descriptions),
            "features_variant": encoder.variant,
            "history": fitted.history,
        },
        metrics=metrics,
    )
    with build_directory(registry.bundles_dir, build_prefix) as work:
        write_head_bundle(work / "bundle", spec, fitted.weights)
        return registry.publish(work / "bundle")
