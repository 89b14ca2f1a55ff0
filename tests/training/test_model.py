"""The tagger model on tiny random BERT and RoBERTa backbones."""

import pytest
import torch

from nuner.training.checkpoint import load_checkpoint, load_fast_tokenizer, save_checkpoint
from nuner.training.model import NunerTagger

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(params=["tiny_bert_dir", "tiny_roberta_dir"])
def backbone(request):
    return str(request.getfixturevalue(request.param))


@pytest.mark.parametrize("head", ["linear", "mlp"])
@pytest.mark.parametrize("features", ["last", "two_emb"])
def test_heads_and_features_give_one_logit_per_tag(backbone, head, features):
    model = NunerTagger.from_backbone(backbone, TAGS, head=head, features=features).eval()
    ids = torch.randint(5, 300, (3, 11))
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape == (3, 11, len(TAGS))
    width = model.head[1].in_features
    assert width == model.encoder.config.hidden_size * (2 if features == "two_emb" else 1)


def test_two_emb_uses_the_middle_layer(tiny_bert_dir):
    model = NunerTagger.from_backbone(str(tiny_bert_dir), TAGS, features="two_emb")
    assert model.middle_layer == 1  # 2 layers: hidden_states[1]
    ids = torch.randint(5, 300, (1, 6))
    mask = torch.ones_like(ids)
    hidden = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    features = model.features(ids, mask)
    torch.testing.assert_close(features[..., 32:], hidden.hidden_states[1])


def test_frozen_encoder_gets_no_gradient(tiny_bert_dir):
    model = NunerTagger.from_backbone(str(tiny_bert_dir), TAGS)
    model.freeze_encoder()
    ids = torch.randint(5, 300, (2, 7))
    labels = torch.randint(0, len(TAGS), (2, 7))
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.head.parameters())


def test_checkpoint_round_trip_is_exact_and_pickle_free(backbone, tmp_path):
    model = NunerTagger.from_backbone(backbone, TAGS, head="mlp", features="two_emb").eval()
    tokenizer = load_fast_tokenizer(backbone)
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, {"note": "test"})
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    loaded, _, info = load_checkpoint(tmp_path / "ckpt")
    ids = torch.randint(5, 300, (2, 9))
    mask = torch.ones_like(ids)
    torch.testing.assert_close(
        loaded(input_ids=ids, attention_mask=mask).logits,
        model(input_ids=ids, attention_mask=mask).logits,
    )
    assert loaded.config.tags == TAGS and info == {"note": "test"}
