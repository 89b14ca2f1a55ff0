"""End-to-end: fine-tune on a few real sentences, save, reload, evaluate."""

import json

import pytest
import torch

from nuner.core.datasets import read_jsonl
from nuner.training.checkpoint import (
    load_fast_tokenizer,
    save_checkpoint,
    text_encoder_for,
)
from nuner.training.fewshot import run_fewshot, summarize
from nuner.training.finetune import FinetuneConfig, _best_fold_epoch, finetune
from nuner.training.predict import evaluate_pipeline, load_pipeline, torch_pipeline
from nuner.training.sampling import sample_k_2k
from tests.conftest import DATASETS, dataset_path, tiny_finetune_config

FAST = tiny_finetune_config()


@pytest.mark.parametrize("backbone_fixture", ["tiny_bert_dir", "tiny_roberta_dir"])
def test_tiny_tagger_learns_its_training_sentences(
    request, backbone_fixture, conll_sample, tmp_path
):
    backbone = str(request.getfixturevalue(backbone_fixture))
    result = finetune(backbone, conll_sample, FAST, show_progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"] / 3
    save_checkpoint(tmp_path / "ckpt", result.model, load_fast_tokenizer(backbone), {})
    report = evaluate_pipeline(load_pipeline(tmp_path / "ckpt"), conll_sample)
    assert report.micro.f1 > 0.6, report.micro


def test_same_seed_same_weights(tiny_bert_dir, conll_sample):
    config = FAST.model_copy(update={"epochs": 2})
    first = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False).model
    second = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False).model
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_early_stopping_restores_the_best_dev_epoch(tiny_bert_dir, conll_sample):
    dev = read_jsonl(dataset_path("conll2003", "dev"))[:40]
    config = FAST.model_copy(update={"epochs": 12, "patience": 2})
    result = finetune(str(tiny_bert_dir), conll_sample, config, dev=dev, show_progress=False)
    scores = [h["dev_f1"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert result.epochs_run <= config.epochs
    assert result.epochs_run - result.best_epoch <= config.patience
    assert result.dev_report.micro.f1 == pytest.approx(max(scores))


def test_frozen_encoder_trains_only_the_head(tiny_bert_dir, conll_sample):
    from nuner.training.model import NunerTagger

    before = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"]).encoder.state_dict()
    config = FAST.model_copy(update={"epochs": 2, "freeze_encoder": True, "head": "mlp"})
    after = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False).model
    for name, tensor in after.encoder.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_fewshot_protocol_end_to_end(tiny_bert_dir):
    config = FAST.model_copy(update={"epochs": 3})
    runs = run_fewshot(
        DATASETS / "wnut2017", str(tiny_bert_dir), [1, 2], [0, 1], config, max_eval=30
    )
    assert [(r.k, r.seed) for r in runs] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    summary = summarize(runs)["wnut2017"]
    assert set(summary) == {1, 2} and summary[1]["n"] == 2
    json.dumps(summary)


@pytest.mark.slow
def test_default_backbone_reaches_useful_f1_from_few_examples():
    """The real default encoder, k=8 CoNLL sample, scored on 300 test sentences."""
    from nuner.core.backbones import resolve_backbone

    backbone = resolve_backbone(None)
    train = sample_k_2k(read_jsonl(dataset_path("conll2003", "train")), 8, seed=0)
    result = finetune(backbone, train, FinetuneConfig(epochs=20), show_progress=False)
    encoder = text_encoder_for(load_fast_tokenizer(backbone), 256, 32)
    test = read_jsonl(dataset_path("conll2003", "test"))[:300]
    report = evaluate_pipeline(torch_pipeline(result.model, encoder), test)
    assert report.micro.f1 > 0.35, report.micro


def test_linear_probe_fits_the_head_before_the_encoder_moves(tiny_bert_dir, conll_sample):
    # a rate too small to move anything: the first epoch's loss shows the head it starts from
    still = FAST.model_copy(update={"epochs": 1, "learning_rate": 1e-9})
    cold = finetune(str(tiny_bert_dir), conll_sample, still, show_progress=False)
    probed_config = still.model_copy(update={"probe_epochs": 30})
    probed = finetune(str(tiny_bert_dir), conll_sample, probed_config, show_progress=False)
    assert probed.history[0]["loss"] < cold.history[0]["loss"] / 2


def test_io_tagging_trains_one_tag_a_type_and_decodes_whole_names(tiny_bert_dir, conll_sample):
    from nuner.core.labels import LabelSet
    from nuner.training.data import build_windows

    labels = LabelSet.from_types({label for e in conll_sample for label in e.labels})
    encoder = text_encoder_for(load_fast_tokenizer(str(tiny_bert_dir)), 64, 16)
    bio, _ = build_windows(conll_sample, encoder, labels)
    io, _ = build_windows(conll_sample, encoder, labels, tagging="io")
    for b, i in zip(bio, io, strict=True):
        assert ((b.tag_ids > 0) == (i.tag_ids > 0)).all()  # the same entity tokens
        assert not ((i.tag_ids > 0) & (i.tag_ids % 2 == 0)).any()  # no I-X left
    assert any(((b.tag_ids > 0) & (b.tag_ids % 2 == 0)).any() for b in bio)
    config = FAST.model_copy(update={"tagging": "io", "decoding": "viterbi-join"})
    model = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False).model
    joined, split = (
        evaluate_pipeline(torch_pipeline(model, encoder, decoding=d), conll_sample).micro.f1
        for d in ("viterbi-join", "viterbi")
    )
    assert joined > max(split, 0.6)  # io's multi-word names are whole only once joined


@pytest.mark.parametrize("freeze_encoder", [False, True])
def test_label_smoothing_makes_a_fitted_tagger_less_sure(
    tiny_bert_dir, conll_sample, freeze_encoder
):
    from nuner.core.labels import LabelSet
    from nuner.training.data import build_windows, collate
    from nuner.training.finetune import batch_loss

    config = FAST.model_copy(update={"freeze_encoder": freeze_encoder, "epochs": 15})
    if freeze_encoder:
        config = config.model_copy(update={"learning_rate": 2e-2, "epochs": 60})
    peaks = {}
    for smoothing in (0.0, 0.3):
        run_config = config.model_copy(update={"label_smoothing": smoothing})
        model = finetune(str(tiny_bert_dir), conll_sample, run_config, show_progress=False).model
        encoder = text_encoder_for(load_fast_tokenizer(str(tiny_bert_dir)), 64, 16)
        label_set = LabelSet.from_types({label for e in conll_sample for label in e.labels})
        assert label_set.tags == model.config.tags
        windows, _ = build_windows(conll_sample, encoder, label_set, "expand", "bio")
        batch = collate(windows, encoder.pad_id)
        with torch.no_grad():
            output = model(**batch)
            unsmoothed = batch_loss(model, batch, torch.device("cpu"), FinetuneConfig())
            probabilities = output.logits.softmax(-1).max(-1).values
        assert unsmoothed == pytest.approx(output.loss.item())  # 0: the model's own loss
        peaks[smoothing] = probabilities[batch["labels"] >= 0].mean().item()
    assert peaks[0.3] < peaks[0.0] - 0.05, peaks


def test_dev_fold_chooses_the_epochs_then_trains_on_every_example(tiny_bert_dir, conll_sample):
    config = FAST.model_copy(update={"epochs": 4, "dev_fold": 0.25})
    result = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False)
    assert [r["epoch"] for r in result.fold_history] == [1, 2, 3, 4]  # no early stop
    best = max(result.fold_history, key=lambda r: (r["dev_f1"], r["epoch"]))["epoch"]
    assert result.epochs_run == best == len(result.history)
    assert all("dev_f1" not in r for r in result.history)  # the refit has no dev set


def test_dev_fold_takes_the_later_of_tied_epochs():
    history = [
        {"epoch": 1, "dev_f1": 0.0},
        {"epoch": 2, "dev_f1": 0.5},
        {"epoch": 3, "dev_f1": 0.5},
    ]
    assert _best_fold_epoch(history) == 3
