"""Token-by-label scores (an encoder bundle's ``sigmoid(scale * cos + bias)``)
-> entities: the zero-shot decoding policy, the same for every tokenizer.

* Sub-words -> words: a word's score for a label is the mean over its
  sub-words (the tokenizer's words; whitespace-only tokens of byte-level BPE
  count for nothing, so runs of spaces never start or join an entity).
* One label per word (default): the word takes its best label if that score
  reaches ``threshold``; ties go to the label listed first in the request.
* Spans: consecutive words with the same label form one entity (so two
  adjacent mentions of one label merge: the scores carry no boundary); its
  score is the mean of its words' scores for that label.
* ``multi_label``: every label is decoded on its own, so one stretch of text
  may be an entity of several labels (overlaps across labels, never within).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from nuner.core.decoding import unit_distributions, unit_starts
from nuner.core.encoding import EncodedText
from nuner.core.types import Entity

WordPooling = Literal["average", "first", "max"]


def decode_zero_shot(
    encoded: EncodedText,
    scores: np.ndarray,
    labels: Sequence[str],
    threshold: float = 0.5,
    multi_label: bool = False,
    pooling: WordPooling = "average",
) -> list[Entity]:
    """``scores``: ``(tokens, labels)`` probabilities; entities sorted by position.
    ``pooling``: how a word's sub-word scores become one (the policy is
    ``average``; the others exist to be compared on dev data)."""
    content = np.flatnonzero(encoded.has_content)
    if len(content) == 0 or not len(labels):
        return []
    starts = unit_starts(encoded, content, pooling)
    words = unit_distributions(scores[content], starts, pooling)  # (words, labels)
    firsts = content[starts]
    lasts = content[np.append(starts[1:], len(content)) - 1]
    bounds = (encoded.offsets[firsts, 0], encoded.offsets[lasts, 1])
    if multi_label:
        chosen = [np.where(words[:, j] >= threshold, j, -1) for j in range(len(labels))]
    else:
        best = words.argmax(axis=1)  # the first maximum: ties go to the label listed first
        peak = words[np.arange(len(best)), best]
        chosen = [np.where(peak >= threshold, best, -1)]
    entities = [
        entity
        for per_word in chosen
        for entity in _runs(encoded.text, per_word, words, bounds, labels)
    ]
    return sorted(entities, key=lambda e: (e.start, e.end, e.label))


def _runs(
    text: str,
    per_word: np.ndarray,
    words: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
) -> list[Entity]:
    """Entities from runs of consecutive words with one label index (-1: none)."""
    entities = []
    edges = np.flatnonzero(np.diff(per_word, prepend=-2, append=-2))
    for first, stop in zip(edges[:-1], edges[1:], strict=True):
        label = int(per_word[first])
        if label < 0:
            continue
        start, end = int(bounds[0][first]), int(bounds[1][stop - 1])
        score = float(words[first:stop, label].mean())
        entities.append(Entity(start, end, text[start:end], labels[label], score))
    return entities
