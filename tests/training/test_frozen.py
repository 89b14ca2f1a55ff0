"""Frozen-encoder fine-tuning on cached features: same loss, one encoder pass."""

import pytest
import torch

from nuner.core.labels import LabelSet
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.data import build_windows, collate
from nuner.training.finetune import FinetuneConfig, finetune
from nuner.training.frozen import encode_windows, head_losses
from nuner.training.model import NunerTagger

FROZEN = FinetuneConfig(
    epochs=6, learning_rate=1e-2, batch_size=4, max_length=64, freeze_encoder=True
)


@pytest.fixture
def tagger_and_windows(tiny_roberta_dir, conll_sample):
    labels = LabelSet.from_types({label for e in conll_sample for label in e.labels})
    encoder = text_encoder_for(load_fast_tokenizer(str(tiny_roberta_dir)), 64, 16)
    windows, _ = build_windows(conll_sample, encoder, labels)
    model = NunerTagger.from_backbone(
        str(tiny_roberta_dir), labels.tags, classifier_dropout=0.0, features="two_emb"
    )
    return model, windows, encoder.pad_id


def test_cached_features_give_the_models_own_loss(tagger_and_windows):
    """Padding differs (zeros vs the encoder's pad positions) but is ignored."""
    model, windows, pad_id = tagger_and_windows
    cached = encode_windows(model, windows, pad_id, torch.device("cpu"), batch_size=3)
    everything = torch.Generator().manual_seed(0)
    (cached_loss,) = head_losses(model, cached, len(cached), everything)
    model.eval()
    with torch.no_grad():
        direct_loss = model(**collate(windows, pad_id)).loss
    assert cached_loss.item() == pytest.approx(direct_loss.item(), rel=1e-5)


def test_frozen_fine_tuning_runs_the_encoder_once_per_window(
    tiny_bert_dir, conll_sample, monkeypatch
):
    calls = []
    original = NunerTagger.features

    def counting(self, input_ids, *args, **kwargs):
        calls.append(len(input_ids))
        return original(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(NunerTagger, "features", counting)
    result = finetune(str(tiny_bert_dir), conll_sample, FROZEN, show_progress=False)
    assert sum(calls) == len(build_windows_for(tiny_bert_dir, conll_sample))
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def build_windows_for(backbone, examples):
    labels = LabelSet.from_types({label for e in examples for label in e.labels})
    encoder = text_encoder_for(load_fast_tokenizer(str(backbone)), FROZEN.max_length, FROZEN.stride)
    return build_windows(examples, encoder, labels)[0]
