"""Entity-level scores, cross-checked against seqeval on real data."""

import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from nuner.core.datasets import read_jsonl, spans_to_tags, whitespace_tokens
from nuner.core.types import Span
from nuner.training.metrics import entity_scores
from tests.conftest import dataset_path


def perturb(example, rng, labels):
    """Plausible wrong predictions on token boundaries: drop, relabel, shrink, invent."""
    offsets = whitespace_tokens(example.text)
    predicted = []
    for span in example.spans:
        roll = rng.random()
        if roll < 0.15:
            continue
        if roll < 0.3:
            span = Span(span.start, span.end, rng.choice(labels))
        elif roll < 0.45:
            inner = [o for o in offsets if span.start <= o[0] and o[1] <= span.end]
            span = Span(inner[0][0], inner[0][1], span.label)
        predicted.append(span)
    taken = {i for i, (s, e) in enumerate(offsets) for p in predicted if p.start <= s < p.end}
    if offsets and rng.random() < 0.2:
        i = rng.randrange(len(offsets))
        if i not in taken and not any(s.start <= offsets[i][0] < s.end for s in example.spans):
            predicted.append(Span(*offsets[i], rng.choice(labels)))
    return sorted(predicted)


@pytest.mark.parametrize("name", ["conll2003", "wnut2017", "mit_restaurant"])
def test_matches_seqeval_strict_on_real_data(name):
    examples = read_jsonl(dataset_path(name, "test"))[:1500]
    labels = sorted({label for e in examples for label in e.labels})
    rng = random.Random(0)
    predictions = [perturb(e, rng, labels) for e in examples]
    report = entity_scores([e.spans for e in examples], predictions)

    gold_tags = [spans_to_tags(e.spans, whitespace_tokens(e.text)) for e in examples]
    pred_tags = [spans_to_tags(p, whitespace_tokens(e.text)) for e, p in zip(examples, predictions)]
    kwargs = {"mode": "strict", "scheme": IOB2}
    assert report.micro.f1 == pytest.approx(f1_score(gold_tags, pred_tags, **kwargs))
    assert report.micro.precision == pytest.approx(precision_score(gold_tags, pred_tags, **kwargs))
    assert report.micro.recall == pytest.approx(recall_score(gold_tags, pred_tags, **kwargs))
    per_type = classification_report(gold_tags, pred_tags, output_dict=True, **kwargs)
    for label in labels:
        assert report.per_type[label].f1 == pytest.approx(per_type[label]["f1-score"])
        assert report.per_type[label].support == per_type[label]["support"]
    assert 0.3 < report.micro.f1 < 0.95  # the perturbation really changed things


def test_hand_computed_scores():
    gold = [[Span(0, 3, "PER"), Span(4, 7, "LOC")], [Span(0, 2, "ORG")]]
    predicted = [[Span(0, 3, "PER"), Span(4, 7, "ORG")], []]
    report = entity_scores(gold, predicted)
    assert (report.micro.correct, report.micro.predicted, report.micro.support) == (1, 2, 3)
    assert report.micro.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert report.per_type["ORG"].precision == 0.0 and report.per_type["PER"].f1 == 1.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        entity_scores([[]], [])
