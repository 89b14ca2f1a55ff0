"""Layer-wise learning-rate decay: each encoder depth gets its own rate."""

import pytest

from nuner.training.finetune import FinetuneConfig, _optimizer
from nuner.training.model import NunerTagger


@pytest.mark.parametrize("backbone", ["tiny_bert_dir", "tiny_roberta_dir"])
def test_rates_fall_by_the_decay_per_layer_below_the_top(request, backbone):
    model = NunerTagger.from_backbone(str(request.getfixturevalue(backbone)), ["O", "B-X", "I-X"])
    config = FinetuneConfig(learning_rate=1e-3, head_learning_rate=5e-3, layer_lr_decay=0.5)
    groups = _optimizer(model, config).param_groups
    head, encoder = groups[0], groups[1:]
    assert head["lr"] == 5e-3
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    layers = model.encoder.config.num_hidden_layers  # 2: embeddings, layer 0, layer 1
    assert [g["lr"] for g in encoder] == [1e-3 * 0.5**d for d in range(layers, -1, -1)]
    trainable = {id(p) for p in model.encoder.parameters()}
    assert {id(p) for g in encoder for p in g["params"]} == trainable


def test_no_decay_is_one_rate_for_the_whole_encoder(tiny_bert_dir):
    model = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"])
    groups = _optimizer(model, FinetuneConfig(learning_rate=2e-4)).param_groups
    assert {g["lr"] for g in groups} == {2e-4}
