"""Optimiser groups: layer-wise learning-rate decay, shape embeddings at their own rate."""

import copy

import pytest
import torch

from nuner.core.hyperparameters import COLD_ENCODER_RATE, WARM_ENCODER_RATE, WARM_HEAD_RATE
from nuner.training.finetune import FinetuneConfig, _optimizer
from nuner.training.model import NunerTagger


@pytest.mark.parametrize("backbone", ["tiny_bert_dir", "tiny_roberta_dir"])
def test_rates_fall_by_the_decay_per_layer_below_the_top(request, backbone):
    model = NunerTagger.from_backbone(str(request.getfixturevalue(backbone)), ["O", "B-X", "I-X"])
    config = FinetuneConfig(learning_rate=1e-3, head_learning_rate=5e-3, layer_lr_decay=0.5)
    groups = _optimizer(model, config, warm=False).param_groups
    head, encoder = groups[0], groups[1:]
    assert head["lr"] == 5e-3
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    layers = model.encoder.config.num_hidden_layers  # 2: embeddings, layer 0, layer 1
    assert [g["lr"] for g in encoder] == [1e-3 * 0.5**d for d in range(layers, -1, -1)]
    trainable = {id(p) for p in model.encoder.parameters()}
    assert {id(p) for g in encoder for p in g["params"]} == trainable


def test_no_decay_is_one_rate_for_the_whole_encoder(tiny_bert_dir):
    model = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"])
    groups = _optimizer(model, FinetuneConfig(learning_rate=2e-4), warm=False).param_groups
    assert {g["lr"] for g in groups} == {2e-4}


def test_shape_embeddings_learn_at_their_own_rate(tiny_bert_dir):
    model = NunerTagger.from_backbone(
        str(tiny_bert_dir), ["O", "B-X", "I-X"], shape_features="input"
    )
    config = FinetuneConfig(learning_rate=2e-4, shape_learning_rate=3e-3)
    groups = _optimizer(model, config, warm=False).param_groups
    shape_groups = [
        g for g in groups if any(p is model.shape_embeddings.weight for p in g["params"])
    ]
    assert [g["lr"] for g in shape_groups] == [3e-3]
    assert len(shape_groups[0]["params"]) == 1
    assert not model.shape_embeddings.weight.any()  # zero: the encoder starts as pre-trained


def test_a_fixed_one_hot_is_not_trained(tiny_bert_dir):
    model = NunerTagger.from_backbone(
        str(tiny_bert_dir), ["O", "B-X", "I-X"], shape_features="head"
    )
    groups = _optimizer(model, FinetuneConfig(), warm=False).param_groups
    trained = {id(p) for g in groups for p in g["params"]}
    assert id(model.shape_embeddings.weight) not in trained


def test_a_warm_head_learns_faster_and_its_encoder_slower_unless_set(tiny_bert_dir):
    model = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"])

    def rates(config: FinetuneConfig, warm: bool) -> tuple[float, set[float]]:
        head, *encoder = _optimizer(model, config, warm=warm).param_groups
        return head["lr"], {g["lr"] for g in encoder}

    assert rates(FinetuneConfig(), warm=True) == (WARM_HEAD_RATE, {WARM_ENCODER_RATE})
    assert rates(FinetuneConfig(), warm=False) == (COLD_ENCODER_RATE, {COLD_ENCODER_RATE})
    pinned = FinetuneConfig(learning_rate=3e-4, head_learning_rate=1e-3)
    assert rates(pinned, warm=True) == (1e-3, {3e-4})
    assert rates(FinetuneConfig(learning_rate=3e-4), warm=False) == (3e-4, {3e-4})


def test_the_fused_step_makes_the_per_tensor_update(tiny_bert_dir):
    """The trainer's fused AdamW (docs/optimizer.md) is a speed-up, not another optimiser."""
    torch.manual_seed(0)
    model = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"])
    twin = copy.deepcopy(model)
    config = FinetuneConfig(learning_rate=1e-3)
    fused = _optimizer(model, config, warm=False)
    assert all(group["fused"] for group in fused.param_groups)
    looped = torch.optim.AdamW(
        [
            {"params": g["params"], "lr": g["lr"]}
            for g in _optimizer(twin, config, False).param_groups
        ],
        weight_decay=config.weight_decay,
        foreach=False,
    )
    ids = torch.randint(5, model.encoder.config.vocab_size, (2, 7))
    for net, optimizer in ((model, fused), (twin, looped)):
        net.eval()  # no dropout: the same forward for both
        for _ in range(3):
            net(
                input_ids=ids, attention_mask=torch.ones_like(ids)
            ).logits.square().mean().backward()
            optimizer.step()
            optimizer.zero_grad()
    for (name, mine), theirs in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6), name
