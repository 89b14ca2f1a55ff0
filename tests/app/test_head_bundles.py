"""Head taggers below the API: the warm start is zero-shot exactly, fitting
learns from the examples, bundles are verified and pinned to their encoder,
and the registry refuses what would serve a head on another encoder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from nuner.app.encoder_registry import EncoderInUse, EncoderNotFound
from nuner.app.registry import Registry
from nuner.core.bundle import MANIFEST, BundleError
from nuner.core.datasets import read_jsonl
from nuner.core.head import HeadTagger, HeadWeights, decode_head
from nuner.core.head_bundle import HEAD_FILE, EncoderMismatch, EncoderPin
from nuner.core.hyperparameters import HeadFitConfig
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.onnx_tagger import OnnxTagger
from nuner.core.types import Example, Span
from nuner.export.head_writer import HeadSpec, write_head_bundle
from nuner.training.head import fit_head, head_report, token_targets
from tests.conftest import dataset_path, pretrain_tiny_dual_encoder

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris 😀 and 東京   today .", "Nothing here ."]
NAMES = {"PER": "person", "LOC": "location", "ORG": "organization"}


@pytest.fixture(scope="module")
def encoders(make_encoder, tiny_roberta_dir, tmp_path_factory):
    """An encoder bundle per tokenizer family: WordPiece (tiny BERT), byte-level BPE."""
    from nuner.export.encoder_writer import write_encoder_bundle

    root = tmp_path_factory.mktemp("roberta-encoder")
    dual = pretrain_tiny_dual_encoder(str(tiny_roberta_dir), root / "dual")
    verification = read_jsonl(dataset_path("conll2003", "dev"))[:20]
    roberta = write_encoder_bundle(dual, root / "bundle", "bpe", "1", verification, ["fp32"])
    assert roberta.name == "bpe"
    return {"wordpiece": make_encoder("starter", "1"), "bpe": root / "bundle"}


@pytest.fixture(scope="module")
def conll_train():
    return [e for e in read_jsonl(dataset_path("conll2003", "train"))[:300] if e.spans][:40]


def spans(entities) -> list[list[tuple]]:
    return [[(e.start, e.end, e.label) for e in per_text] for per_text in entities]


@pytest.mark.parametrize("family", ["wordpiece", "bpe"])
def test_the_warm_start_is_zero_shot_exactly(encoders, family):
    encoder = OnnxEncoder(encoders[family], variant="fp32", threads=1)
    labels = ["person", "location"]
    head = HeadWeights.from_labels(encoder, labels)
    for threshold in (0.0, 0.3, encoder.manifest.threshold):
        served = decode_head(encoder.encode_texts(TEXTS), head, labels, threshold)
        assert spans(served) == spans(encoder.extract(TEXTS, labels, threshold))
    assert spans(served)[0] or threshold > 0  # threshold 0 labels every word


def f1(encoder, labels, weights, threshold, examples) -> float:
    outputs = encoder.encode_texts([e.text for e in examples])
    return head_report(outputs, weights, labels, threshold, examples).micro.f1


def cross_entropy(weights: HeadWeights, inputs, targets) -> float:
    probs = np.clip(weights.scores(inputs), 1e-7, 1 - 1e-7)
    return float(-np.mean(targets * np.log(probs) + (1 - targets) * np.log(1 - probs)))


@pytest.mark.parametrize("warm_start", [True, False])
def test_fitting_moves_the_head_towards_the_examples(encoders, conll_train, warm_start):
    """The tiny encoder's features separate little; the fit must still improve on its start."""
    encoder = OnnxEncoder(encoders["wordpiece"], variant="fp32", threads=1)
    config = HeadFitConfig(warm_start=warm_start, steps=300, l2=1e-5, threshold=0.3)
    fitted = fit_head(encoder, conll_train, config, descriptions=NAMES)
    assert fitted.labels == ["LOC", "MISC", "ORG", "PER"] and fitted.threshold == 0.3
    features = encoder.encode_texts([e.text for e in conll_train])
    inputs, targets = token_targets(features, conll_train, fitted.labels)
    start = HeadWeights.from_labels(encoder, [NAMES.get(x, x) for x in fitted.labels])
    if not warm_start:
        start = HeadWeights(np.zeros_like(start.weights), np.zeros_like(start.bias))
    fitted_loss = cross_entropy(fitted.weights, inputs, targets)
    assert fitted_loss < 0.8 * cross_entropy(start, inputs, targets)
    after = f1(encoder, fitted.labels, fitted.weights, 0.3, conll_train)
    assert after > f1(encoder, fitted.labels, start, 0.3, conll_train)


def test_a_separable_problem_is_learned_exactly():
    from nuner.training.head import fit_weights

    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(400, 16)).astype(np.float32)
    truth = rng.normal(size=(2, 16)).astype(np.float32)
    targets = (inputs @ truth.T > 0).astype(np.float32)
    start = HeadWeights(np.zeros((2, 16), np.float32), np.zeros(2, np.float32))
    fitted, history = fit_weights(inputs, targets, start, HeadFitConfig(steps=500, l2=0))
    predicted = fitted.scores(inputs) >= 0.5
    assert (predicted == targets.astype(bool)).mean() > 0.98
    assert history[-1]["loss"] < history[0]["loss"]


def test_targets_follow_the_span_alignment(encoders):
    encoder = OnnxEncoder(encoders["bpe"], variant="fp32", threads=1)
    example = Example.create("Paris  is big", [Span(0, 5, "LOC")])
    inputs, targets = token_targets(encoder.encode_texts([example.text]), [example], ["LOC"])
    assert inputs.shape[0] == targets.shape[0] and targets[:, 0].sum() >= 1
    assert targets[0, 0] == 1 and targets[-1, 0] == 0  # whitespace-only tokens are left out


def write_head(directory, encoder_dir, name="people", version="1", sha=None):
    encoder = OnnxEncoder(encoder_dir, variant="fp32", threads=1)
    labels = ["LOC", "PER"]
    weights = HeadWeights.from_labels(encoder, ["location", "person"])
    pin = EncoderPin(
        name=encoder.manifest.name,
        version=encoder.manifest.version,
        sha256=sha or encoder.digest,
    )
    spec = HeadSpec(name, version, labels, pin, threshold=0.3)
    write_head_bundle(directory, spec, weights)
    return directory


def test_head_bundles_are_verified_and_pinned(encoders, tmp_path):
    bundle = write_head(tmp_path / "head", encoders["wordpiece"])
    assert sorted(p.name for p in bundle.iterdir()) == [HEAD_FILE, MANIFEST]
    head = HeadTagger(bundle)
    assert head.labels == ["LOC", "PER"] and head.manifest.threshold == 0.3
    assert (bundle / HEAD_FILE).stat().st_size < 20_000  # the head, nothing else
    head.check_encoder(OnnxEncoder(encoders["wordpiece"], variant="fp32", threads=1))
    with pytest.raises(EncoderMismatch):
        head.check_encoder(OnnxEncoder(encoders["bpe"], variant="fp32", threads=1))
    with pytest.raises(BundleError, match="head bundle, not a tagger"):
        OnnxTagger(bundle)
    with pytest.raises(BundleError, match="head bundle, not a encoder"):
        OnnxEncoder(bundle)

    tampered = shutil.copytree(bundle, tmp_path / "tampered")
    arrays = dict(np.load(tampered / HEAD_FILE))
    arrays["bias"] = arrays["bias"] + 1
    np.savez(tampered / HEAD_FILE, **arrays)
    with pytest.raises(BundleError, match="does not match its sha256"):
        HeadTagger(tampered)
    half = shutil.copytree(bundle, tmp_path / "half")
    (half / MANIFEST).unlink()  # what a crash before the manifest leaves
    with pytest.raises(BundleError, match="no manifest.json"):
        HeadTagger(half)


def test_the_registry_pins_heads_to_their_encoder(settings, encoders, tmp_path):
    registry = Registry.from_settings(settings)
    with pytest.raises(EncoderNotFound):  # its encoder is not published here
        registry.publish(write_head(tmp_path / "h1", encoders["wordpiece"]))
    assert registry.catalogue() == {}
    registry.encoders.publish(encoders["wordpiece"])
    registry.encoders.publish(encoders["bpe"], make_default=True)
    forged = write_head(tmp_path / "h2", encoders["wordpiece"], sha="0" * 64)
    with pytest.raises(EncoderMismatch):
        registry.publish(forged)
    published = registry.publish(write_head(tmp_path / "h3", encoders["wordpiece"]))
    assert published.is_head and published.encoder == "starter@1"
    assert registry.resolve("people").encoder == "starter@1"
    manifest = json.loads((published.path / MANIFEST).read_text())
    assert manifest["encoder"]["name"] == "starter"

    with pytest.raises(EncoderInUse, match="people"):
        registry.encoders.delete_version("starter", "1")
    registry.delete_tagger("people")
    registry.encoders.delete_version("starter", "1")  # no head uses it any more
    assert registry.encoders.names() == ["bpe"]
