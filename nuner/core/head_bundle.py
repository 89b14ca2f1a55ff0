"""Head bundles: a tagger that is a small head over a published encoder bundle.

The bundle holds its manifest and its head weights and nothing else; the
manifest names its encoder by ``name@version`` and the sha256 of that
encoder bundle's manifest (which itself lists the sha256 of every file), so a
head is never applied to any other encoder, not even one republished under
the same name and version. The weights are per-label vectors over the
encoder's unit token vectors and a bias, ``sigmoid(token . w + b)``: what a
zero-shot label is (``scale * label_vector``, ``bias``), trained on examples.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from nuner.core.bundle import BundleError, parse_manifest, verify_files
from nuner.core.errors import Conflict

HEAD_FORMAT_VERSION = 1
HEAD_FILE = "head.npz"  # arrays "weights" (labels, hidden) and "bias" (labels,), float32


class EncoderPin(BaseModel):
    """The one encoder bundle a head was trained on."""

    name: str
    version: str
    sha256: str = Field(description="sha256 of the encoder bundle's manifest.json.")

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class HeadManifest(BaseModel):
    format_version: int
    kind: Literal["head"] = "head"
    name: str
    version: str
    labels: list[str]
    encoder: EncoderPin
    threshold: float = Field(ge=0, le=1, description="Decoding threshold (zero-shot policy).")
    created_at: datetime
    training: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    files: dict[str, str]  # relative path -> sha256


class EncoderMismatch(Conflict):
    """A head and an encoder bundle that is not the one it was trained on."""

    code = "encoder_mismatch"


def read_head_manifest(directory: str | Path) -> HeadManifest:
    return parse_manifest(directory, "head", HeadManifest, HEAD_FORMAT_VERSION)


def verify_head_bundle(directory: str | Path) -> HeadManifest:
    root = Path(directory)
    manifest = read_head_manifest(root)
    if not manifest.labels or len(set(manifest.labels)) != len(manifest.labels):
        raise BundleError(f"{root}: a head needs distinct labels, got {manifest.labels}")
    verify_files(root, manifest.files, {HEAD_FILE})
    return manifest
