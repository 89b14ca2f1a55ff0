"""Fine-tune regularizers against memorising the few examples: mention masking,
sub-word embeddings kept as pre-trained, R-Drop."""

import pytest
import torch

from nuner.core.hyperparameters import FinetuneConfig
from nuner.core.labels import IGNORE_INDEX, OUTSIDE_ID
from nuner.training.data import mask_mentions
from nuner.training.finetune import finetune
from nuner.training.model import NunerTagger, dropout_disagreement

CONFIG = FinetuneConfig(epochs=2, batch_size=2, max_length=64, warm_start=False)
MASK = 7


def _batch() -> dict[str, torch.Tensor]:
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, OUTSIDE_ID, 3, IGNORE_INDEX]] * 50)
    return {"input_ids": torch.arange(100, 106).repeat(50, 1), "labels": labels}


def _entity_sub_words(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return (batch["labels"] != IGNORE_INDEX) & (batch["labels"] != OUTSIDE_ID)


def test_only_entity_sub_words_are_masked_at_about_the_rate():
    batch = _batch()
    masked = mask_mentions(batch, 0.5, MASK, torch.Generator().manual_seed(0))["input_ids"]
    entity = _entity_sub_words(batch)
    assert torch.equal(masked[~entity], batch["input_ids"][~entity])
    share = (masked[entity] == MASK).float().mean().item()
    assert 0.35 < share < 0.65
    assert torch.equal(batch["input_ids"][0], torch.arange(100, 106))  # the batch is not changed


def test_no_masking_at_rate_zero_and_every_mention_near_one():
    batch = _batch()
    entity = _entity_sub_words(batch)
    kept = mask_mentions(batch, 0.0, MASK, torch.Generator().manual_seed(0))["input_ids"]
    assert torch.equal(kept, batch["input_ids"])
    full = mask_mentions(batch, 0.999999, MASK, torch.Generator().manual_seed(0))["input_ids"]
    assert bool((full[entity] == MASK).all())


def _word_embeddings(model: NunerTagger) -> torch.Tensor:
    return model.encoder.get_input_embeddings().weight.detach().clone()


def test_frozen_word_embeddings_stay_as_pre_trained_while_the_layers_learn(
    tiny_bert_dir, conll_sample
):
    start = NunerTagger.from_backbone(str(tiny_bert_dir), ["O", "B-X", "I-X"])
    assert CONFIG.freeze_word_embeddings  # the default
    model = finetune(str(tiny_bert_dir), conll_sample, CONFIG, show_progress=False).model
    assert torch.equal(_word_embeddings(model), _word_embeddings(start))
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(model.encoder.state_dict()[layer], start.encoder.state_dict()[layer])
    config = CONFIG.model_copy(update={"freeze_word_embeddings": False})
    trained = finetune(str(tiny_bert_dir), conll_sample, config, show_progress=False).model
    assert not torch.equal(_word_embeddings(trained), _word_embeddings(start))


def test_dropout_disagreement_is_zero_for_one_answer_and_counts_labelled_tokens_only():
    logits = torch.randn(2, 5, 3)
    labels = torch.tensor([[IGNORE_INDEX, 0, 1, 2, IGNORE_INDEX]] * 2)
    assert dropout_disagreement(logits, logits.clone(), labels).item() == pytest.approx(0, abs=1e-6)
    other = logits.clone()
    other[:, 0] += torch.tensor([5.0, -5.0, 0.0])  # only ignored tokens differ
    assert dropout_disagreement(logits, other, labels).item() == pytest.approx(0, abs=1e-6)
    other[:, 1] += torch.tensor([5.0, -5.0, 0.0])
    assert dropout_disagreement(logits, other, labels).item() > 0.1


@pytest.mark.parametrize(
    ("backbone", "update"),
    [
        ("tiny_roberta_dir", {"mention_masking": 0.5}),  # RoBERTa's <mask>
        ("tiny_bert_dir", {"rdrop_weight": 1.0}),  # two dropout passes a batch
    ],
)
def test_a_regularizer_changes_what_the_same_seed_learns(request, backbone, update, conll_sample):
    directory = str(request.getfixturevalue(backbone))
    plain = finetune(directory, conll_sample, CONFIG, show_progress=False).model
    config = CONFIG.model_copy(update=update)
    regularized = finetune(directory, conll_sample, config, show_progress=False).model
    head = "head.1.weight"
    assert not torch.equal(plain.state_dict()[head], regularized.state_dict()[head])
