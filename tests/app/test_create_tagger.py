"""`nuner create-tagger`: fine-tune + export + publish, twice, into a fresh store."""

from __future__ import annotations

from typer.testing import CliRunner

from nuner.app.registry import Registry
from nuner.app.settings import get_settings
from nuner.cli import app
from nuner.core.bundle import verify_bundle
from nuner.core.datasets import read_jsonl, write_jsonl
from nuner.training.sampling import sample_k_2k
from tests.conftest import dataset_path


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
