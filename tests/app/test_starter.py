"""The starter encoder: built once on first start from the packaged MIT data,
published as the default, reused on later starts; never from NC data."""

from __future__ import annotations

from unittest import mock

import pytest

from nuner.app import starter
from nuner.app.main import create_app
from nuner.app.registry import Registry
from nuner.core.backbones import PRETRAINING_FILE, starter_built
from nuner.export.calibrate import NEGATIVE_LABELS, THRESHOLD_GRID, with_negatives
from nuner.training.pretrain.trainer import CHECKPOINTS
from tests.app.conftest import running

TINY = {"epochs": 1, "learning_rate": 2e-3, "batch_size": 8, "max_length": 48, "negatives": 8}


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"starter_encoder": True})


@pytest.fixture
def tiny_starter(monkeypatch, tiny_bert_dir):
    """The real build, on the tiny BERT in place of the packaged MiniLM."""
    import nuner.core.backbones

    monkeypatch.setattr(nuner.core.backbones, "resolve_backbone", lambda _: str(tiny_bert_dir))
    monkeypatch.setattr(starter, "STARTER_PRETRAINING", TINY)


@pytest.mark.anyio
async def test_first_start_builds_the_starter_and_later_starts_reuse_it(settings, tiny_starter):
    built = starter.ensure_starter_encoder(settings)
    registry = Registry.from_settings(settings)
    assert built is not None and built.ref == "starter@1"
    manifest = built.manifest
    assert manifest["licences"] == ["MIT"] and built.non_commercial is False
    assert [s["name"] for s in manifest["pretraining"]["data"]] == ["nuner_sample1k"]
    data = manifest["pretraining"]["data"][0]
    assert data["sentences"] + data["held_out"] == 992 and data["held_out"] == 99
    assert manifest["threshold"] in THRESHOLD_GRID
    assert manifest["metrics"]["calibration"]["data"] == "nuner_sample1k held-out tenth"
    assert registry.encoders.default_reference() == "starter"
    assert not (settings.home_dir / "starter" / "bundle").exists()  # only the store keeps it
    # the pre-trained dual encoder stays as the `starter` backbone, without its resume state
    assert starter_built(settings.backbones_dir)
    assert not (settings.backbones_dir / "starter" / CHECKPOINTS).exists()
    # a later start finds it and builds nothing
    assert starter.ensure_starter_encoder(settings) is None
    async with running(create_app(settings)) as client:
        answer = await client.post(
            "/v1/extract", json={"labels": ["person", "city"], "text": "Ann lives in Oslo ."}
        )
    assert answer.status_code == 200 and answer.json()["encoder"] == "starter@1"


def test_the_starter_is_not_built_where_an_operator_decides(settings, monkeypatch):
    registry = Registry.from_settings(settings)
    assert starter.wanted(settings, registry)
    with monkeypatch.context() as patched:  # an image without the training extras
        patched.setattr(starter, "can_build", lambda: False)
        assert not starter.wanted(settings, registry)
    for update in (
        {"starter_encoder": False},
        {"default_encoder": "mine"},
        {"database_url": "postgresql+psycopg://nobody@127.0.0.1/none"},
    ):
        assert not starter.wanted(settings.model_copy(update=update), registry)


def test_the_held_out_tenth_is_never_trained_on():
    from nuner.core.datasets import read_jsonl

    train_texts, held_out = starter.split_sample(read_jsonl(starter.starter_data()))
    assert len(held_out) == 99 and not {e.text for e in held_out} & train_texts
    offered = with_negatives(held_out)
    for example, labels in zip(held_out, offered, strict=True):
        own = {s.label for s in example.spans}
        assert own <= set(labels) and len(labels) == len(own) + NEGATIVE_LABELS
        assert all(label == label.lower() for label in own)


def test_a_starter_built_before_the_backbone_move_is_adopted(settings, tmp_path):
    """The pre-trained encoder of an earlier build (in the work directory) becomes
    the `starter` backbone on the next start; nothing is rebuilt for it."""
    earlier = settings.home_dir / "starter" / "pretrained"
    earlier.mkdir(parents=True)
    (earlier / PRETRAINING_FILE).write_text("{}")
    (earlier / "config.json").write_text("{}")
    registry = Registry.from_settings(settings)
    with mock.patch.object(starter, "wanted", return_value=False) as asked:
        assert starter.ensure_starter_encoder(settings) is None
    asked.assert_called_once()
    assert starter_built(settings.backbones_dir) and not earlier.exists()
    assert registry.encoders.names() == []
