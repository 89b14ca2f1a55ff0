"""A fitted head -> head bundle, written atomically (manifest last, every file hashed).

Nothing to convert or verify against torch: the head's weights are the
artefact, applied at serving time to the very encoder bundle they were
fitted on (pinned by name@version and sha256, nuner.core.head_bundle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from nuner.core.atomic import atomic_directory
from nuner.core.bundle import MANIFEST, check_name, file_hashes
from nuner.core.head import HeadWeights
from nuner.core.head_bundle import (
    HEAD_FILE,
    HEAD_FORMAT_VERSION,
    EncoderPin,
    HeadManifest,
    verify_head_bundle,
)


@dataclass(frozen=True)
class HeadSpec:
    """What a head bundle records besides its weights."""

    name: str
    version: str
    labels: Sequence[str]
    encoder: EncoderPin
    threshold: float
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def write_head_bundle(target: Path, spec: HeadSpec, weights: HeadWeights) -> HeadManifest:
    check_name("tagger name", spec.name)
    check_name("version", spec.version)
    with atomic_directory(target) as staging:
        weights.save(staging / HEAD_FILE)
        manifest = HeadManifest(
            format_version=HEAD_FORMAT_VERSION,
            name=spec.name,
            version=spec.version,
            labels=list(spec.labels),
            encoder=spec.encoder,
            threshold=spec.threshold,
            created_at=datetime.now(timezone.utc),
            training=spec.training,
            metrics=spec.metrics,
            files=file_hashes(staging),
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        verify_head_bundle(staging)  # what loading will check, before anything is renamed
    return manifest
