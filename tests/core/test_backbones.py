"""Backbone names: `auto` takes the starter's pre-trained encoder once it is built."""

from __future__ import annotations

import pytest

from nuner.core.backbones import (
    AUTO_BACKBONE,
    PRETRAINING_FILE,
    STARTER_BACKBONE,
    BackboneError,
    default_backbone_dir,
    resolve_backbone,
)


def test_auto_is_the_packaged_backbone_until_the_starter_is_built(tmp_path):
    packaged = str(default_backbone_dir())
    assert resolve_backbone(AUTO_BACKBONE, backbones_dir=tmp_path) == packaged
    with pytest.raises(BackboneError, match="build-starter-encoder"):
        resolve_backbone(STARTER_BACKBONE, backbones_dir=tmp_path)
    starter = tmp_path / STARTER_BACKBONE
    starter.mkdir()
    (starter / "config.json").write_text("{}")  # a pre-training that stopped half-way
    assert resolve_backbone(AUTO_BACKBONE, backbones_dir=tmp_path) == packaged
    (starter / PRETRAINING_FILE).write_text("{}")  # written last: complete
    assert resolve_backbone(AUTO_BACKBONE, backbones_dir=tmp_path) == str(starter)
    assert resolve_backbone(STARTER_BACKBONE, backbones_dir=tmp_path) == str(starter)
    assert resolve_backbone("default", backbones_dir=tmp_path) == packaged
