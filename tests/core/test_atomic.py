"""Directories that appear whole or not at all (checkpoints, bundles, publishes)."""

from __future__ import annotations

import pytest

from nuner.core.atomic import atomic_directory, staging_leftovers


def test_the_directory_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "bundle"
    with atomic_directory(target) as staging:
        (staging / "model.onnx").write_bytes(b"x")
        (staging / "sub").mkdir()
        (staging / "sub" / "f").write_text("y")
        assert not target.exists() and staging.parent == target.parent
    assert (target / "model.onnx").read_bytes() == b"x" and (target / "sub" / "f").is_file()
    assert staging_leftovers(target) == []


def test_a_failure_leaves_nothing_behind(tmp_path):
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "half.onnx").write_bytes(b"x")
        raise RuntimeError("verification refused")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_replace_swaps_an_existing_directory_and_the_default_refuses_to(tmp_path):
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_directory(target, replace=True) as staging:
        (staging / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    with pytest.raises(OSError), atomic_directory(target) as staging:
        (staging / "newer").write_text("x")
    assert [p.name for p in target.iterdir()] == ["new"] and staging_leftovers(target) == []


def test_leftovers_of_a_killed_build_are_found(tmp_path):
    target = tmp_path / "1"
    (tmp_path / ".1.staging-dead").mkdir()
    (tmp_path / ".10.staging-other").mkdir()  # another version's
    assert staging_leftovers(target) == [tmp_path / ".1.staging-dead"]
