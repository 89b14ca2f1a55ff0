"""`nuner create-tagger`: fine-tune + export + publish, twice, into a fresh store."""

from __future__ import annotations

from typer.testing import CliRunner

from nuner.app.registry import Registry
from nuner.app.settings import get_settings
from nuner.cli import app
from nuner.core.backbones import STARTER_BACKBONE
from nuner.core.bundle import verify_bundle
from nuner.core.datasets import read_jsonl, write_jsonl
from nuner.training.sampling import sample_k_2k
from tests.conftest import dataset_path, pretrain_tiny_dual_encoder


def test_create_tagger_publishes_new_versions(tiny_bert_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NUNER_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    train = tmp_path / "train.jsonl"
    write_jsonl(train, sample_k_2k(read_jsonl(dataset_path("conll2003", "train")), 2, seed=0))
    arguments = [
        "create-tagger",
        "demo",
        "--train",
        str(train),
        "--backbone",
        str(tiny_bert_dir),
        "--epochs",
        "2",
        "--lr",
        "1e-3",
        "--max-disagreement",
        "0.2",
        "--max-f1-drop",
        "50",
    ]
    try:
        for expected in ("demo@1", "demo@2"):
            result = CliRunner().invoke(app, arguments)
            assert result.exit_code == 0, result.output
            assert f"published {expected}" in result.output
        settings = get_settings()
        registry = Registry.from_settings(settings)
        latest = registry.resolve("demo")
        assert latest.ref == "demo@2"
        manifest = verify_bundle(latest.path)
        assert set(manifest.variants) == {"fp32", "int8"}
        assert manifest.training["data"]["train_examples"] == len(read_jsonl(train))
        leftovers = [
            p.name for p in settings.resolved_bundles_dir.iterdir() if p.name.startswith(".")
        ]
        assert leftovers == []  # build directories cleaned up
    finally:
        get_settings.cache_clear()


def test_the_default_backbone_is_the_built_starter_and_its_head_reads_the_descriptions(
    tiny_bert_dir, tmp_path, monkeypatch
):
    """Backbone `auto`: the starter's pre-trained encoder once it is built (here a
    tiny one in its place); the warm start reads --description, else the tag's name."""
    home = tmp_path / "home"
    pretrain_tiny_dual_encoder(str(tiny_bert_dir), home / "backbones" / STARTER_BACKBONE)
    monkeypatch.setenv("NUNER_HOME", str(home))
    get_settings.cache_clear()
    train = tmp_path / "train.jsonl"
    write_jsonl(train, sample_k_2k(read_jsonl(dataset_path("conll2003", "train")), 2, seed=0))
    arguments = ["create-tagger", "demo", "--train", str(train), "--epochs", "1"]
    arguments += ["--description", "PER=human being", "--max-f1-drop", "100"]
    arguments += ["--max-disagreement", "1"]
    try:
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output
        manifest = verify_bundle(Registry.from_settings(get_settings()).resolve("demo").path)
        assert manifest.base_model.endswith(f"backbones/{STARTER_BACKBONE}")
        assert manifest.training["warm_start_reads"] == {
            "LOC": "location",
            "MISC": "miscellaneous",
            "ORG": "organization",
            "PER": "human being",
        }
    finally:
        get_settings.cache_clear()
