"""Zero-shot F1 of an encoder over a threshold grid, and the threshold it picks.

One pass of the text encoder and one of the concept encoder serve the whole
grid: the scores do not depend on the threshold, only the decoding does.
Used to calibrate an encoder bundle's default threshold on held-out data
(never a test split) and by ``bench/zeroshot.py``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nuner.core.encoding import EncodedText
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.types import Example
from nuner.core.zero_shot import WordPooling, decode_zero_shot
from nuner.training.metrics import entity_scores

# fine at the low end, where sigmoid(scale * cos + bias) of a few-epoch encoder sits
NEGATIVE_LABELS = 3  # absent labels offered per calibration sentence
THRESHOLD_GRID = (0.01, 0.02, 0.03, 0.05, 0.07) + tuple(round(0.05 * i, 2) for i in range(2, 20))


@dataclass(frozen=True)
class CalibrationSet:
    """Held-out labelled sentences and the label names offered for each."""

    examples: Sequence[Example]
    labels: Sequence[Sequence[str]]
    reads: Sequence[Sequence[str]] | None = None
    source: str = ""


@dataclass(frozen=True)
class Calibration:
    threshold: float
    f1: float
    f1_by_threshold: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "f1": self.f1,
            "f1_by_threshold": {str(t): f for t, f in self.f1_by_threshold.items()},
        }


def with_negatives(
    examples: Sequence[Example], negatives: int = NEGATIVE_LABELS, seed: int = 0
) -> list[list[str]]:
    """Per sentence, its own labels and ``negatives`` others from the pool, as a
    request offers labels that are absent too (partially annotated data such as
    LLM annotations has no fixed label set)."""
    pool = sorted({s.label for e in examples for s in e.spans})
    chooser = random.Random(seed)
    offered = []
    for example in examples:
        own = sorted({s.label for s in example.spans})
        others = [label for label in pool if label not in own]
        offered.append(own + chooser.sample(others, min(negatives, len(others))))
    return offered


def score_examples(
    encoder: OnnxEncoder,
    examples: Sequence[Example],
    reads: Sequence[Sequence[str]],
) -> list[tuple[EncodedText, np.ndarray]]:
    """Per example, its tokens and their scores against what is read for its
    labels: one pass of each encoder, reused by every decoding tried."""
    unique = sorted({r for per_example in reads for r in per_example})
    vectors = dict(zip(unique, encoder.label_vectors(unique), strict=True))
    return [
        (encoded, encoder.score(token_vectors, np.stack([vectors[r] for r in example_reads])))
        for (encoded, token_vectors), example_reads in zip(
            encoder.encode_texts([e.text for e in examples]), reads, strict=True
        )
    ]


def f1_by_threshold(
    scored: list[tuple[EncodedText, np.ndarray]],
    examples: Sequence[Example],
    labels: Sequence[Sequence[str]],
    thresholds: Sequence[float] = THRESHOLD_GRID,
    pooling: WordPooling = "average",
) -> dict[float, float]:
    """Strict micro entity F1 of the decoded entities, per threshold."""
    gold = [list(e.spans) for e in examples]
    result = {}
    for threshold in thresholds:
        predicted = [
            [x.span for x in decode_zero_shot(encoded, scores, names, threshold, pooling=pooling)]
            for (encoded, scores), names in zip(scored, labels, strict=True)
        ]
        result[threshold] = entity_scores(gold, predicted).micro.f1
    return result


def zero_shot_f1(
    encoder: OnnxEncoder,
    examples: Sequence[Example],
    labels: Sequence[Sequence[str]],
    reads: Sequence[Sequence[str]] | None = None,
    thresholds: Sequence[float] = THRESHOLD_GRID,
) -> dict[float, float]:
    """Strict micro entity F1 per threshold. ``labels[i]``: the names offered for
    example ``i`` (gold spans carry them); ``reads[i]``: what the concept encoder
    reads for each (descriptions), default the names."""
    scored = score_examples(encoder, examples, reads or labels)
    return f1_by_threshold(scored, examples, labels, thresholds)


def calibrate_threshold(encoder: OnnxEncoder, held_out: CalibrationSet) -> Calibration:
    """The grid's best threshold (ties: the lower, which finds more)."""
    f1s = zero_shot_f1(encoder, held_out.examples, held_out.labels, held_out.reads)
    best = max(f1s, key=lambda t: (f1s[t], -t))
    return Calibration(best, f1s[best], f1s)
