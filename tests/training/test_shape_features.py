"""Word shapes read from the original text: ids, training, and a verified ONNX bundle."""

import numpy as np
import pytest

from nuner.core.datasets import read_jsonl
from nuner.core.onnx_tagger import OnnxTagger
from nuner.core.shapes import SHAPES, shape_of
from nuner.core.types import Example, Span
from nuner.export.bundle_writer import write_bundle
from nuner.export.verify import Tolerances
from nuner.training.checkpoint import load_fast_tokenizer, save_checkpoint, text_encoder_for
from nuner.training.finetune import FinetuneConfig, finetune
from nuner.training.predict import evaluate_pipeline, load_pipeline, torch_pipeline
from tests.conftest import dataset_path


@pytest.mark.parametrize(
    ("piece", "shape"),
    [
        ("obama", "lower"),
        ("Obama", "capitalised"),
        ("A", "capitalised"),
        ("USA", "upper"),
        ("iPhone", "mixed"),
        ("2024", "digit"),
        ("B52", "digit"),
        ("...", "symbol"),
        ("東京", "uncased"),
        ("Éric", "capitalised"),
        ("", "none"),
    ],
)
def test_shape_of(piece, shape):
    assert SHAPES[shape_of(piece)] == shape


def test_an_uncased_tokenizer_keeps_the_case_in_shapes(tiny_bert_dir):
    encoder = text_encoder_for(load_fast_tokenizer(str(tiny_bert_dir)), 32, 4)
    upper, lower = encoder.encode("Apple 🍎  東京"), encoder.encode("apple 🍎  東京")
    assert upper.ids.tolist() == lower.ids.tolist()  # the tokenizer lower-cases
    assert upper.shapes[0] != lower.shapes[0]
    assert upper.shapes[1:].tolist() == lower.shapes[1:].tolist()
    window = encoder.windows(upper)[0]
    specials = window.token_index < 0
    assert (window.shape_ids[specials] == 0).all()
    assert window.shape_ids[~specials].tolist() == upper.shapes.tolist()


def _case_only_examples() -> list[Example]:
    """The company is "Apple", the fruit "apple": to an uncased tokenizer the
    two sentences of each pair are the same ids, so only the shapes tell them apart."""
    examples = []
    for verb in ("likes", "sells", "buys", "sees", "wants", "eats", "picks", "finds"):
        company = f"she {verb} Apple today"
        fruit = f"she {verb} apple today"
        start = company.index("Apple")
        examples.append(Example(company, [Span(start, start + 5, "ORG")]))
        examples.append(Example(fruit, []))
    return examples


@pytest.mark.parametrize("shapes", ["input", "head"])
def test_shapes_learn_what_an_uncased_tokenizer_cannot_see(tiny_bert_dir, shapes):
    examples = _case_only_examples()
    backbone = str(tiny_bert_dir)
    encoder = text_encoder_for(load_fast_tokenizer(backbone), 32, 4)
    scores = {}
    for kind in ("none", shapes):
        config = FinetuneConfig(
            epochs=40,
            learning_rate=3e-3,
            batch_size=4,
            max_length=32,
            stride=4,
            shape_features=kind,
        )
        model = finetune(backbone, examples, config, labels=["ORG"], show_progress=False).model
        pipeline = torch_pipeline(model, encoder, decoding=config.decoding)
        scores[kind] = evaluate_pipeline(pipeline, examples).micro.f1
    # without shapes, identical inputs must get identical answers: at most half right
    assert scores["none"] <= 2 / 3 + 1e-9
    assert scores[shapes] == pytest.approx(1.0)


def test_a_shape_tagger_exports_to_a_verified_bundle_that_serves_alike(tiny_bert_dir, tmp_path):
    train = read_jsonl(dataset_path("conll2003", "train"))[:40]
    backbone = str(tiny_bert_dir)
    config = FinetuneConfig(
        epochs=10,
        learning_rate=3e-3,
        batch_size=4,
        max_length=48,
        stride=8,
        shape_features="input",
    )
    result = finetune(backbone, train, config, show_progress=False)
    checkpoint = tmp_path / "ckpt"
    info = {"config": config.model_dump(), "data": {"train_examples": len(train)}}
    save_checkpoint(checkpoint, result.model, load_fast_tokenizer(backbone), info)
    verification = read_jsonl(dataset_path("conll2003", "dev"))[:40]
    bundle = tmp_path / "bundle"
    write_bundle(
        checkpoint,
        bundle,
        "shapes",
        "1",
        verification,
        variants=["fp32"],
        tolerances=Tolerances(max_f1_drop_points=0.5),
        licences=["research-only"],
    )
    tagger = OnnxTagger(bundle, variant="fp32", device="cpu")
    assert "shape_ids" in {i.name for i in tagger.session.get_inputs()}
    texts = [e.text for e in verification] + ["Apple and apple", "USA 2024 iPhone 東京 🍎"]
    served = tagger(texts)
    reference = load_pipeline(checkpoint)(texts)
    assert [[(e.start, e.end, e.label) for e in row] for row in served] == [
        [(e.start, e.end, e.label) for e in row] for row in reference
    ]
    scores = [e.score for row in served for e in row]
    expected = [e.score for row in reference for e in row]
    np.testing.assert_allclose(scores, expected, atol=1e-4)
