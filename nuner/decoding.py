"""Per-token tag probabilities -> entities with character offsets and scores.

Used unchanged by evaluation (torch) and serving (ONNX Runtime): both only
supply probabilities per window.

Aggregation (after Hugging Face's token-classification pipeline):
``token`` decodes every sub-word on its own; ``first``, ``average`` and
``max`` first reduce the sub-words of each tokenizer word to one
distribution, so an entity never starts or ends inside a word.

A unit's type is the argmax of the probability mass per type (``B-X`` +
``I-X``, against ``O``); the score of an entity is the mean of that mass over
its units: it stays high when the model is sure of the type but hesitates
between B and I.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from nuner.encoding import EncodedText, Window
from nuner.labels import LabelSet
from nuner.types import Entity

Aggregation = Literal["token", "first", "average", "max"]
AGGREGATIONS: tuple[str, ...] = ("token", "first", "average", "max")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def merge_windows(
    num_tokens: int, windows: Sequence[Window], window_probs: Sequence[np.ndarray]
) -> np.ndarray:
    """Per-token probabilities of a whole text from overlapping windows.

    Each token takes its distribution from the window where it has the most
    context on both sides (the largest distance to a window edge).
    """
    num_tags = window_probs[0].shape[-1]
    merged = np.zeros((num_tokens, num_tags), dtype=np.float32)
    best_context = np.full(num_tokens, -1, dtype=np.int64)
    for window, probs in zip(windows, window_probs, strict=True):
        positions = np.flatnonzero(window.token_index >= 0)
        tokens = window.token_index[positions]
        rank = np.arange(len(tokens))
        context = np.minimum(rank, len(tokens) - 1 - rank)
        better = context > best_context[tokens]
        merged[tokens[better]] = probs[positions[better]]
        best_context[tokens[better]] = context[better]
    return merged


def _units(encoded: EncodedText, aggregation: Aggregation) -> list[np.ndarray]:
    """Groups of content-token indices decoded as one unit."""
    content = np.flatnonzero(encoded.has_content)
    if aggregation == "token" or len(content) == 0:
        return [np.array([i]) for i in content]
    words = encoded.word_ids[content]
    boundaries = np.flatnonzero((words[1:] != words[:-1]) | (words[1:] < 0)) + 1
    return np.split(content, boundaries)


def _reduce(probs: np.ndarray, unit: np.ndarray, aggregation: Aggregation) -> np.ndarray:
    if aggregation == "average":
        return probs[unit].mean(axis=0)
    if aggregation == "max":
        return probs[unit[np.argmax(probs[unit].max(axis=1))]]
    return probs[unit[0]]


def _unit_tag(
    probs: np.ndarray, unit: np.ndarray, label_set: LabelSet, aggregation: Aggregation
) -> tuple[str | None, bool, float]:
    """(type or None for O, whether the unit begins an entity, probability mass of the type).

    The type is chosen on B+I mass, so B/I hesitation cannot hide an entity;
    B versus I is read from the unit's first sub-word, so two adjacent entities
    of one type stay apart even when a word's later sub-words say ``I``.
    """
    distribution = _reduce(probs, unit, aggregation)
    begin, inside = distribution[1::2], distribution[2::2]
    masses = np.concatenate([distribution[:1], begin + inside])
    best = int(np.argmax(masses))
    if best == 0:
        return None, False, float(masses[0])
    label = label_set.entity_types[best - 1]
    first = probs[unit[0]]
    begins = first[label_set.begin_id(label)] >= first[label_set.inside_id(label)]
    return label, bool(begins), float(masses[best])


def decode_entities(
    encoded: EncodedText,
    probs: np.ndarray,
    label_set: LabelSet,
    aggregation: Aggregation = "average",
    threshold: float = 0.0,
) -> list[Entity]:
    """Lenient BIO decoding: ``I-X`` after anything but ``X`` opens a new entity."""
    entities: list[Entity] = []
    label, start, end, scores = None, 0, 0, []

    def close() -> None:
        score = float(np.mean(scores)) if scores else 0.0
        if label is not None and score >= threshold:
            entities.append(Entity(start, end, encoded.text[start:end], label, score))

    for unit in _units(encoded, aggregation):
        unit_label, begins, mass = _unit_tag(probs, unit, label_set, aggregation)
        if unit_label is not None and not begins and unit_label == label:
            end = int(encoded.offsets[unit[-1], 1])
            scores.append(mass)
            continue
        close()
        label, scores = unit_label, [mass]
        start, end = int(encoded.offsets[unit[0], 0]), int(encoded.offsets[unit[-1], 1])
    close()
    return entities


def tags_to_probs(tag_ids: np.ndarray, num_tags: int) -> np.ndarray:
    """One-hot distributions for gold tags (ignored positions become ``O``)."""
    probs = np.zeros((len(tag_ids), num_tags), dtype=np.float32)
    probs[np.arange(len(tag_ids)), np.where(tag_ids < 0, 0, tag_ids)] = 1.0
    return probs
