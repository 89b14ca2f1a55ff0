"""Tagger bundles: the immutable directory that serving loads (torch-free).

Layout::

    manifest.json       format version, name, version, labels, tags, windows,
                        provenance, metrics, verification, sha256 of every file
    tokenizer.json      the fast tokenizer
    model.onnx          fp32 (always); model.int8.onnx (CPU), model.fp16.onnx (GPU)

Loading verifies the format version and every file's hash and refuses a
bundle that fails; a directory without ``manifest.json`` (e.g. one left by a
crash while writing) is not a bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError

from nuner.core.decoding import Decoding
from nuner.core.errors import Unavailable

FORMAT_VERSION = 1
M = TypeVar("M", bound=BaseModel)
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
VARIANT_FILES: dict[str, str] = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "fp16": "model.fp16.onnx",
}


class BundleError(Unavailable, ValueError):
    """A bundle that is missing, incomplete, tampered with or of an unknown format:
    the tagger cannot be served (503) until an operator republishes it."""

    code = "tagger_unavailable"


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(kind: str, value: str) -> str:
    """Tagger names and versions become directory names: no path tricks."""
    if not SAFE_NAME.match(value) or value in (".", ".."):
        raise BundleError(f"invalid {kind} {value!r}: use letters, digits, '.', '_', '-'")
    return value


class VariantInfo(BaseModel):
    file: str
    verification: dict[str, bool | int | float | str] = Field(default_factory=dict)


class Manifest(BaseModel):
    format_version: int
    name: str
    version: str
    labels: list[str]
    tags: list[str]
    base_model: str = ""
    max_length: int
    stride: int
    aggregation: str = "average"
    decoding: Decoding = "lenient"  # bundles made before viterbi: lenient
    created_at: datetime
    training: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    variants: dict[str, VariantInfo]
    files: dict[str, str]  # relative path -> sha256


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    """The ``files`` of a manifest: the sha256 of every file written so far."""
    return {p.name: sha256_file(p) for p in sorted(directory.iterdir())}


def read_manifest_json(directory: str | Path, kind: str) -> dict:
    """A bundle's manifest.json as JSON (a tagger's or an encoder's), before validation."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{directory} is not a {kind} bundle: no {MANIFEST}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BundleError(f"{path} is not valid JSON: {error}") from error


def bundle_kind(directory: str | Path) -> str:
    """``tagger``, ``head`` or ``encoder``, as the bundle's manifest says."""
    return read_manifest_json(directory, "tagger").get("kind", "tagger")


def parse_manifest(directory: str | Path, kind: str, model: type[M], format_version: int) -> M:
    """A bundle's manifest of the given kind (``tagger`` or ``encoder``) and format."""
    raw = read_manifest_json(directory, kind)
    found = raw.get("kind", "tagger")  # tagger manifests predate the field (bundle_kind)
    if found != kind:
        raise BundleError(f"{directory} holds a {found} bundle, not a {kind} bundle")
    if raw.get("format_version") != format_version:
        raise BundleError(
            f"{directory}: {kind} bundle format {raw.get('format_version')!r} is not supported "
            f"(this version reads format {format_version})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise BundleError(f"{directory}/{MANIFEST} is not a valid manifest: {error}") from error


def read_manifest(directory: str | Path) -> Manifest:
    return parse_manifest(directory, "tagger", Manifest, FORMAT_VERSION)


def verify_bundle(directory: str | Path) -> Manifest:
    """Check the manifest, that every required file is listed, and every hash."""
    root = Path(directory)
    manifest = read_manifest(root)
    required = {TOKENIZER, VARIANT_FILES["fp32"]} | {v.file for v in manifest.variants.values()}
    verify_files(root, manifest.files, required)
    return manifest


def verify_files(root: Path, files: dict[str, str], required: set[str]) -> None:
    """Every required file is listed, stays inside the bundle, and matches its sha256."""
    unlisted = required - set(files)
    if unlisted:
        raise BundleError(f"{root}: manifest does not list {sorted(unlisted)}")
    for relative, expected in files.items():
        path = (root / relative).resolve()
        if root.resolve() not in path.parents:
            raise BundleError(f"{root}: file {relative!r} points outside the bundle")
        if not path.is_file():
            raise BundleError(f"{root}: {relative} is missing")
        if sha256_file(path) != expected:
            raise BundleError(f"{root}: {relative} does not match its sha256 (tampered or corrupt)")
