"""A warm-started tagger begins as the zero-shot scorer of its label names."""

import math

import pytest
import torch

from nuner.core.hyperparameters import HEAD_DEFAULTS, FinetuneConfig
from nuner.core.labels import LabelSet
from nuner.training.checkpoint import load_fast_tokenizer
from nuner.training.finetune import finetune
from nuner.training.model import NunerTagger
from nuner.training.pretrain.model import load_dual_encoder
from nuner.training.warm_start import label_name_scorer, names_read, warm_head_parameters
from tests.conftest import pretrain_tiny_dual_encoder

TYPES = LabelSet.from_types(["LOC", "PER"])
NAMES = {"LOC": "Location", "PER": "person"}
THRESHOLD = 0.2


@pytest.fixture(scope="module")
def dual_dir(tiny_bert_dir, tmp_path_factory):
    return pretrain_tiny_dual_encoder(str(tiny_bert_dir), tmp_path_factory.mktemp("dual"))


def _inputs(backbone, texts):
    tokenizer = load_fast_tokenizer(str(backbone))
    return tokenizer(texts, padding=True, return_tensors="pt")


def test_warm_head_scores_each_type_as_the_dual_encoder_does(dual_dir):
    tagger = NunerTagger.from_backbone(str(dual_dir), TYPES.tags, normalize_features=True)
    tagger.set_head(*warm_head_parameters(label_name_scorer(str(dual_dir), TYPES, NAMES), 0.2))
    tagger.eval()
    batch = _inputs(dual_dir, ["Ada Lovelace lived in London .", "Paris"])
    dual, _ = load_dual_encoder(dual_dir)
    names = _inputs(dual_dir, names_read(TYPES, NAMES))
    with torch.no_grad():
        logits = tagger(batch["input_ids"], batch["attention_mask"]).logits
        zero_shot = dual(
            batch["input_ids"], batch["attention_mask"], names["input_ids"], names["attention_mask"]
        )
    outside = math.log(THRESHOLD / (1 - THRESHOLD))
    assert torch.allclose(logits[..., 0], torch.full_like(logits[..., 0], outside))
    for index, entity_type in enumerate(TYPES.entity_types):
        for tag in (TYPES.begin_id(entity_type), TYPES.inside_id(entity_type)):
            assert torch.allclose(logits[..., tag], zero_shot[..., index], atol=1e-4)


def test_names_read_take_the_description_the_standard_tag_name_or_the_type():
    assert names_read(TYPES, {"PER": "  Person  name"}) == ["location", "person name"]
    assert names_read(TYPES) == ["location", "person"]
    assert names_read(LabelSet.from_types(["Dish", "Restaurant  Name"])) == [
        "dish",
        "restaurant name",
    ]


def test_warm_start_fine_tunes_from_a_dual_encoder(dual_dir, conll_sample):
    config = FinetuneConfig(warm_start=True, epochs=2, batch_size=4, max_length=64)
    result = finetune(str(dual_dir), conll_sample, config, show_progress=False)
    assert result.model.config.normalize_features
    assert len(result.history) == 2
    reads = result.training_info(config, str(dual_dir), {})["warm_start_reads"]
    assert reads == {
        "LOC": "location",
        "MISC": "miscellaneous",
        "ORG": "organization",
        "PER": "person",
    }


@pytest.mark.parametrize("features", ["last", "two_emb"])
def test_where_no_warm_start_applies_the_head_starts_random(
    tiny_bert_dir, dual_dir, conll_sample, features
):
    """No concept encoder (tiny BERT), or a head the scorer cannot be (two_emb)."""
    backbone = tiny_bert_dir if features == "last" else dual_dir
    config = FinetuneConfig(warm_start=True, features=features, epochs=1, max_length=64)
    result = finetune(str(backbone), conll_sample, config, show_progress=False)
    assert not result.model.config.normalize_features
    assert result.warm_start_reads is None


def test_weight_interpolation_ends_between_the_zero_shot_and_the_fine_tuned_tagger(
    dual_dir, conll_sample
):
    """WiSE-FT: the same run (same seed), its weights taken part of the way back."""
    config = FinetuneConfig(epochs=2, batch_size=4, max_length=64)
    tuned = finetune(str(dual_dir), conll_sample, config, show_progress=False).model
    halfway = finetune(
        str(dual_dir),
        conll_sample,
        config.model_copy(update={"weight_interpolation": 0.5}),
        show_progress=False,
    ).model
    labels = LabelSet.from_types({label for e in conll_sample for label in e.labels})
    start = NunerTagger.from_backbone(
        str(dual_dir), labels.tags, shape_features=config.shape_features, normalize_features=True
    )
    scorer = label_name_scorer(str(dual_dir), labels)
    start.set_head(*warm_head_parameters(scorer, HEAD_DEFAULTS.threshold))
    tuned_weights, start_weights = tuned.state_dict(), start.state_dict()
    moved = 0
    for name, weight in halfway.state_dict().items():
        if not weight.is_floating_point():
            continue
        expected = (start_weights[name] + tuned_weights[name]) / 2
        assert torch.allclose(weight, expected, atol=1e-6), name
        moved += not torch.equal(start_weights[name], tuned_weights[name])
    assert moved > 0  # the run did move the weights it took halfway back
