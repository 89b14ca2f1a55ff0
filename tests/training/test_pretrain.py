"""Contrastive pre-training: loss masking, negative sampling, and a tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nuner.core.concepts import normalize_concept
from nuner.training.pretrain.data import (
    AnnotatedExample,
    AnnotatedSpan,
    ConceptVocabulary,
    PretrainWindow,
    build_windows,
    load_sources,
    read_annotated,
)
from nuner.training.pretrain.loss import masked_bce, targets_and_mask
from nuner.training.pretrain.negatives import NegativeSampler
from nuner.training.pretrain.trainer import PretrainConfig, batch_concepts, pretrain
from tests.conftest import DATASETS


def test_concepts_are_normalised_and_queried_types_read(tmp_path):
    assert normalize_concept("  Football \t Club ") == "football club"
    path = tmp_path / "a.jsonl"
    records = [
        {
            "text": "Ken met Bob",
            "spans": [{"start": 0, "end": 3, "label": "Person", "description": "a human"}],
            "queried_types": ["person", "City"],
        },
        {"text": "Paris", "spans": [{"start": 0, "end": 5, "label": " CITY "}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    first, second = read_annotated(path)
    assert first.spans[0] == AnnotatedSpan(0, 3, "person", "a human")
    assert first.queried == frozenset({"person", "city"})
    assert second.queried is None and second.spans[0].concept == "city"
    vocabulary = ConceptVocabulary.from_examples([first, second])
    assert vocabulary.names == ["city", "person"] and list(vocabulary.counts) == [1, 1]


def window(content, positives, queried=None) -> PretrainWindow:
    return PretrainWindow(
        np.zeros(len(content), dtype=np.int64),
        np.array(content, dtype=bool),
        np.array(positives, dtype=np.int64).reshape(-1, 2),
        queried,
    )


def test_mask_drops_padding_specials_and_unqueried_negatives():
    # [CLS] a b [SEP] | concepts 0, 1, 2
    full = window([False, True, True, False], [(1, 0)])
    partial = window([False, True, True], [(2, 2)], queried=(1,))  # asked about concept 1 only
    targets, mask = targets_and_mask([full, partial], concepts=[0, 1, 2], width=5)
    assert targets[0, 1, 0] == 1 and targets.sum() == 2 and targets[1, 2, 2] == 1
    assert mask[0].tolist() == [[False] * 3, [True] * 3, [True] * 3, [False] * 3, [False] * 3]
    # partial: token 1 unlabelled -> only the queried concept 1 is a negative;
    # token 2 is a positive of concept 2 (kept) and a negative of concept 1.
    assert mask[1].tolist() == [
        [False] * 3,
        [False, True, False],
        [False, True, True],
        [False] * 3,
        [False] * 3,
    ]


def test_masked_pairs_do_not_touch_the_loss():
    targets = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[[True, True], [False, True]]])
    logits = torch.randn(1, 2, 2)
    expected = F.binary_cross_entropy_with_logits(logits[mask], targets[mask])
    assert torch.isclose(masked_bce(logits, targets, mask), expected)
    changed = logits.clone()
    changed[0, 1, 0] = 100.0  # a masked pair
    assert torch.isclose(masked_bce(changed, targets, mask), expected)


def test_negatives_are_distinct_exclude_the_batch_and_follow_smoothed_frequency():
    counts = np.array([1000.0, 10.0, 10.0, 1.0])
    sampler = NegativeSampler(counts, alpha=0.5, seed=0)
    drawn = sampler.sample(2, exclude=[1])
    assert len(set(drawn.tolist())) == 2 and 1 not in drawn
    assert sampler.sample(10, exclude=[0, 1, 2]).tolist() == [3]  # all that is left
    firsts = np.bincount([sampler.sample(1)[0] for _ in range(4000)], minlength=4) / 4000
    expected = np.sqrt(counts) / np.sqrt(counts).sum()  # 31.6 : 3.2 : 3.2 : 1
    assert np.allclose(firsts, expected, atol=0.03)
    uniform = NegativeSampler(counts, alpha=0.0, seed=1)
    assert np.allclose(uniform.probabilities, 0.25)
    with pytest.raises(ValueError):
        NegativeSampler(counts, alpha=1.5)


def test_batch_concepts_are_the_batch_plus_negatives():
    sampler = NegativeSampler(np.ones(10), seed=0)
    batch = [window([True, True], [(0, 3)]), window([True], [], queried=(5, 7))]
    concepts = batch_concepts(batch, sampler, negatives=4)
    assert concepts[:3] == [3, 5, 7] and len(concepts) == 7 and len(set(concepts)) == 7


def test_windows_mark_every_token_of_a_span(wordpiece_tokenizer):
    from nuner.core.encoding import TextEncoder

    example = AnnotatedExample("Manchester United won", (AnnotatedSpan(0, 17, "club"),))
    vocabulary = ConceptVocabulary.from_examples([example])
    encoder = TextEncoder(wordpiece_tokenizer, max_length=16, stride=2)
    (only,) = build_windows([example], encoder, vocabulary)
    assert only.positives.tolist() == [[1, 0], [2, 0]]  # [CLS] manchester united won [SEP]
    assert only.content.tolist() == [False, True, True, True, False]


@pytest.fixture(scope="module")
def annotated():
    examples, sources = load_sources(
        [DATASETS / "pile_ner_sentences", DATASETS / "nuner_sample1k"], fraction=0.05, seed=0
    )
    return examples, sources


def tiny_config(**changes) -> PretrainConfig:
    values = dict(epochs=4, batch_size=8, learning_rate=2e-3, max_length=48, negatives=16)
    return PretrainConfig(**{**values, **changes})


def test_tiny_pretraining_lowers_the_loss_and_gives_a_backbone(
    tiny_bert_dir, annotated, conll_sample, tmp_path
):
    from nuner.export.bundle_writer import write_bundle
    from nuner.training.checkpoint import load_fast_tokenizer, save_checkpoint
    from nuner.training.finetune import FinetuneConfig, finetune

    examples, sources = annotated
    assert {s["licence"] for s in sources} == {"CC BY-NC 4.0", "MIT"}
    out = tmp_path / "backbone"
    result = pretrain(
        str(tiny_bert_dir), examples, tiny_config(), out, sources, show_progress=False
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0], losses
    assert result.tokens_per_second > 0
    info = json.loads((out / "pretraining.json").read_text())
    assert info["licences"] == ["CC BY-NC 4.0", "MIT"] and info["frozen_layers"] == 1
    assert "CC BY-NC 4.0" in (out / "README.md").read_text()
    assert (out / "concept_encoder" / "model.safetensors").is_file()
    config = FinetuneConfig(epochs=1, max_length=48)
    tuned = finetune(str(out), conll_sample, config, show_progress=False)
    assert tuned.epochs_run == 1
    checkpoint = tmp_path / "tagger"
    info = tuned.training_info(config, str(out), {"train_examples": len(conll_sample)})
    save_checkpoint(checkpoint, tuned.model, load_fast_tokenizer(str(out)), info)
    manifest = write_bundle(
        checkpoint, tmp_path / "bundle", "t", "1", conll_sample, licences=["CoNLL-2003: research"]
    )
    assert manifest.training["licences"] == ["CC BY-NC 4.0", "CoNLL-2003: research", "MIT"]
    names = [s["name"] for s in manifest.training["backbone_pretraining"]["data"]]
    assert names == ["pile_ner_sentences", "nuner_sample1k"]


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tiny_bert_dir, annotated, tmp_path):
    examples, sources = annotated
    config = tiny_config(epochs=2)
    straight = pretrain(str(tiny_bert_dir), examples, config, tmp_path / "a", show_progress=False)

    class Interrupted(Exception):
        pass

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        pretrain(
            str(tiny_bert_dir),
            examples,
            config,
            tmp_path / "b",
            show_progress=False,
            on_epoch=stop_after_first,
        )
    assert (tmp_path / "b" / "checkpoints" / "epoch-1.pt").is_file()
    resumed = pretrain(str(tiny_bert_dir), examples, config, tmp_path / "b", show_progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history[-1]["loss"] == pytest.approx(straight.history[-1]["loss"], rel=1e-5)
    from safetensors.torch import load_file

    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_the_bf16_autocast_path_trains(tiny_bert_dir, annotated, tmp_path, monkeypatch):
    """The GPU's mixed-precision path, forced on CPU (no GPU in CI): bf16 logits,
    an fp32 loss, fp32 weights saved."""
    from nuner.training.pretrain import trainer
    from nuner.training.pretrain.model import DualEncoder

    logit_dtypes = []
    original = DualEncoder.forward

    def recording(self, *args, **kwargs):
        logits = original(self, *args, **kwargs)
        logit_dtypes.append(logits.dtype)
        return logits

    monkeypatch.setattr(trainer, "uses_bf16_autocast", lambda config, device: True)
    monkeypatch.setattr(DualEncoder, "forward", recording)
    examples, _ = annotated
    out = tmp_path / "backbone"
    result = pretrain(str(tiny_bert_dir), examples, tiny_config(), out, show_progress=False)
    losses = [h["loss"] for h in result.history]
    assert set(logit_dtypes) == {torch.bfloat16}
    assert losses[-1] < 0.8 * losses[0], losses
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.float32}
