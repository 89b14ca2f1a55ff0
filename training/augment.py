"""Mention replacement: more training sentences from the same few examples.

A k-shot training set shows each context with one name and each name in one
context, so a tagger can learn either by heart. Copies of each labelled
sentence in which every mention is swapped for another mention of its type,
drawn from the same examples, break that pairing (Dai & Adel, 2020, "An
Analysis of Simple Data Augmentation for Named Entity Recognition").
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from nuner.core.types import Example, Span


def with_replaced_mentions(examples: Sequence[Example], copies: int, seed: int) -> list[Example]:
    """``examples`` followed by ``copies`` variants of each one that has mentions."""
    pool: dict[str, list[str]] = {}
    for example in examples:
        for span in example.spans:
            pool.setdefault(span.label, []).append(example.text[span.start : span.end])
    rng = random.Random(seed)
    variants = [
        _replace(example, pool, rng) for _ in range(copies) for example in examples if example.spans
    ]
    return [*examples, *variants]


def _replace(example: Example, pool: dict[str, list[str]], rng: random.Random) -> Example:
    """One variant: each mention's text drawn from ``pool[label]``, offsets moved to match."""
    pieces, spans, cursor, length = [], [], 0, 0
    for span in sorted(example.spans):
        before = example.text[cursor : span.start]
        mention = rng.choice(pool[span.label])
        pieces += [before, mention]
        start = length + len(before)
        spans.append(Span(start, start + len(mention), span.label))
        length = start + len(mention)
        cursor = span.end
    pieces.append(example.text[cursor:])
    return Example.create("".join(pieces), spans)
