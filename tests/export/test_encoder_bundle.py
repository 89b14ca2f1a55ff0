"""Pre-trained dual encoder -> verified encoder bundle -> torch-free loader, for
both tokenizer families (WordPiece BERT, byte-level BPE RoBERTa)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nuner.core.bundle import BundleError, verify_bundle
from nuner.core.concepts import MAX_CONCEPT_TOKENS
from nuner.core.datasets import read_jsonl, write_jsonl
from nuner.core.encoder_bundle import verify_encoder_bundle
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.onnx_tagger import OnnxTagger
from nuner.export.encoder_writer import write_encoder_bundle
from nuner.training.checkpoint import load_fast_tokenizer
from nuner.training.pretrain.model import load_dual_encoder
from tests.conftest import dataset_path, pretrain_tiny_dual_encoder

LABELS = ["person", "location", "organisation"]


@pytest.fixture(scope="module", params=["tiny_bert_dir", "tiny_roberta_dir"])
def backbone(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("dual") / request.param
    return pretrain_tiny_dual_encoder(str(request.getfixturevalue(request.param)), out)


@pytest.fixture(scope="module")
def sentences():
    return read_jsonl(dataset_path("conll2003", "dev"))[:40]


@pytest.fixture(scope="module")
def bundle(backbone, sentences, tmp_path_factory):
    target = tmp_path_factory.mktemp("encoders") / "starter"
    write_encoder_bundle(backbone, target, "starter", "1", sentences)
    return target


def test_the_bundle_is_hashed_verified_and_says_where_its_weights_come_from(bundle):
    manifest = verify_encoder_bundle(bundle)
    assert {p.name for p in bundle.iterdir()} == set(manifest.files) | {"manifest.json"}
    assert manifest.variants["fp32"].verification["passed"] is True
    assert manifest.variants["fp32"].verification["min_token_cosine"] > 0.9999
    assert manifest.variants["fp32"].verification["entity_agreement"] >= 0.95
    # pre-trained on pile_ner (CC BY-NC 4.0) and nuner_sample1k (MIT): it must say so
    assert manifest.licences == ["CC BY-NC 4.0", "MIT"] and manifest.non_commercial
    assert manifest.logit_scale > 0 and manifest.max_concept_tokens == MAX_CONCEPT_TOKENS
    assert set(manifest.variants) | set(manifest.metrics.get("refused_variants", {})) == {
        "fp32",
        "int8",
    }


def test_torch_free_vectors_match_torch(backbone, bundle):
    encoder = OnnxEncoder(bundle, variant="fp32")
    dual, _ = load_dual_encoder(backbone)
    tokenizer = load_fast_tokenizer(str(backbone))
    vectors = encoder.label_vectors(["  Person ", "location", "organisation"])
    assert np.allclose(np.linalg.norm(vectors, axis=-1), 1, atol=1e-5)
    batch = tokenizer(LABELS, truncation=True, max_length=MAX_CONCEPT_TOKENS, padding=True)
    with torch.no_grad():
        expected = dual.concept_vectors(
            torch.tensor(batch["input_ids"]), torch.tensor(batch["attention_mask"])
        ).numpy()
    assert np.abs(vectors - expected).max() < 1e-4  # "  Person " is read as "person"


def test_token_scores_cover_every_token_of_long_texts(bundle):
    encoder = OnnxEncoder(bundle)
    long_text = " ".join(["Angela Merkel visited Paris and met Emmanuel Macron."] * 60)
    texts = ["Angela Merkel visited Paris.", long_text, "東京 🙂  and   Berlin"]
    scored = encoder.token_scores(texts, encoder.label_vectors(LABELS))
    for encoded, scores in scored:
        assert scores.shape == (len(encoded), len(LABELS))
        assert ((scores > 0) & (scores < 1)).all()
    assert len(scored[1][0]) > encoder.encoder.window_size  # several windows, merged


def test_zero_shot_entities_point_into_the_text_as_sent(bundle):
    encoder = OnnxEncoder(bundle)
    texts = ["Angela Merkel visited Paris.", "東京 🙂  and   Berlin", ""]
    for threshold in (0.0, 0.5):
        for text, entities in zip(texts, encoder.extract(texts, LABELS, threshold), strict=True):
            assert all(text[e.start : e.end] == e.text and e.label in LABELS for e in entities)
            assert all(e.score >= threshold for e in entities)
    assert encoder.extract(texts[:1], LABELS, threshold=0.0)[0]  # every word has a best label


def test_a_tampered_or_half_written_bundle_is_never_loaded(bundle, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    with (tampered / "concept.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="sha256"):
        OnnxEncoder(tampered)
    half = tmp_path / "half"
    shutil.copytree(bundle, half)
    (half / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        OnnxEncoder(half)


def test_tagger_and_encoder_bundles_are_not_mistaken_for_each_other(bundle):
    with pytest.raises(BundleError, match="encoder bundle"):
        verify_bundle(bundle)
    with pytest.raises(BundleError, match="encoder bundle"):
        OnnxTagger(bundle)


def test_refused_inputs(backbone, sentences, tmp_path, tiny_bert_dir):
    with pytest.raises(BundleError, match="immutable"):
        write_encoder_bundle(backbone, tmp_path, "x", "1", sentences)
    with pytest.raises(ValueError, match="not a pre-trained dual encoder"):
        write_encoder_bundle(tiny_bert_dir, tmp_path / "plain", "x", "1", sentences)
    assert not (tmp_path / "plain").exists()
    info = json.loads((backbone / "pretraining.json").read_text())
    assert "logit_scale" in info


def test_the_cli_exports_an_encoder_and_names_its_terms(backbone, tmp_path):
    from typer.testing import CliRunner

    from nuner.cli import app

    target = tmp_path / "cli-encoder"
    verify = str(dataset_path("conll2003", "dev"))
    held_out = tmp_path / "held-out.jsonl"
    write_jsonl(held_out, read_jsonl(dataset_path("wnut2017", "dev"))[:30])
    result = CliRunner().invoke(
        app,
        ["export-encoder", str(backbone), "--out", str(target), "--verify-data", verify]
        + ["--name", "starter", "--verify-samples", "20", "--no-int8"]
        + ["--calibration-data", str(held_out)],
    )
    assert result.exit_code == 0, result.output
    assert "starter@1" in result.output and "non-commercial" in result.output
    manifest = verify_encoder_bundle(target)
    assert set(manifest.variants) == {"fp32"}
    calibration = manifest.metrics["calibration"]
    assert calibration["data"] == str(held_out) and manifest.threshold == calibration["threshold"]
    best = max(calibration["f1_by_threshold"].values())
    assert calibration["f1"] == best
