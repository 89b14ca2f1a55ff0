"""Encoder bundles: a pre-trained dual encoder, served without torch.

The same guarantees as tagger bundles (docs/bundles.md): one immutable
directory, a manifest with the sha256 of every file, written atomically,
verified on load. It holds the text encoder (token vectors), the concept
encoder (label vectors) and the logit scale and bias that score one against
the other: ``sigmoid(scale * cos(token, label) + bias)``, as in pre-training.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from nuner.core.bundle import (
    MANIFEST,
    TOKENIZER,
    BundleError,
    parse_manifest,
    sha256_file,
    verify_files,
)

ENCODER_FORMAT_VERSION = 1
# per variant: (text encoder, concept encoder)
ENCODER_FILES: dict[str, tuple[str, str]] = {
    "fp32": ("text.onnx", "concept.onnx"),
    "int8": ("text.int8.onnx", "concept.int8.onnx"),
}
NON_COMMERCIAL_MARKERS = ("NC", "non-commercial", "noncommercial")


class EncoderVariant(BaseModel):
    text: str
    concept: str
    verification: dict[str, bool | int | float | str] = Field(default_factory=dict)


class EncoderManifest(BaseModel):
    format_version: int
    kind: Literal["encoder"] = "encoder"
    name: str
    version: str
    base_model: str = ""
    max_length: int
    stride: int
    max_concept_tokens: int
    logit_scale: float
    logit_bias: float
    threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Zero-shot decoding threshold for requests that give none (calibrated "
        "on labelled data at export where given).",
    )
    created_at: datetime
    pretraining: dict = Field(default_factory=dict)  # data, config, history (pretraining.json)
    licences: list[str] = Field(default_factory=list)
    non_commercial: bool = False
    metrics: dict = Field(default_factory=dict)
    variants: dict[str, EncoderVariant]
    files: dict[str, str]  # relative path -> sha256


def is_non_commercial(licences: list[str]) -> bool:
    """CC BY-NC and the like: weights trained on such data inherit the terms."""
    return any(
        marker.lower() in licence.lower()
        for licence in licences
        for marker in NON_COMMERCIAL_MARKERS
    )


def encoder_digest(directory: str | Path) -> str:
    """An encoder bundle's identity: the sha256 of its manifest, which holds the
    sha256 of every other file (head taggers pin it)."""
    return sha256_file(Path(directory) / MANIFEST)


def read_encoder_manifest(directory: str | Path) -> EncoderManifest:
    return parse_manifest(directory, "encoder", EncoderManifest, ENCODER_FORMAT_VERSION)


def verify_encoder_bundle(directory: str | Path) -> EncoderManifest:
    """The manifest, that both encoders of every variant are listed, and every hash."""
    root = Path(directory)
    manifest = read_encoder_manifest(root)
    if "fp32" not in manifest.variants:
        raise BundleError(f"{root}: an encoder bundle needs its fp32 variant")
    required = {TOKENIZER} | {f for v in manifest.variants.values() for f in (v.text, v.concept)}
    verify_files(root, manifest.files, required)
    return manifest
