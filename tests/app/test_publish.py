"""Publishing a bundle checks every hash exactly once: on the copy that will be served."""

from __future__ import annotations

import json
import shutil

import pytest

from nuner.app.registry import Registry
from nuner.app.schema import upgrade
from nuner.core import bundle as bundle_format
from nuner.core.bundle import BundleError


@pytest.fixture
def registry(tmp_path):
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "store")
    upgrade(registry.engine)
    return registry


def test_each_file_is_hashed_once_per_publish(registry, make_bundle, monkeypatch):
    hashed = []
    real = bundle_format.sha256_file
    monkeypatch.setattr(bundle_format, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    source = make_bundle("conll", "1")
    published = registry.publish(source)
    files = json.loads((source / "manifest.json").read_text())["files"]
    assert sorted(hashed) == sorted(files)  # once each, and on the store's copy
    assert published.path == registry.bundle_path("conll", "1")


def test_a_tampered_bundle_is_refused_and_leaves_nothing_in_the_store(
    registry, make_bundle, tmp_path
):
    tampered = tmp_path / "tampered"
    shutil.copytree(make_bundle("conll", "1"), tampered)
    with (tampered / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="sha256"):
        registry.publish(tampered)
    assert list((registry.bundles_dir / "conll").iterdir()) == []
