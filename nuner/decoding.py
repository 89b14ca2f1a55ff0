"""Per-token tag probabilities -> entities with character offsets and scores.

Used unchanged by evaluation (torch) and serving (ONNX Runtime): both only
supply probabilities per window.

Aggregation (after Hugging Face's token-classification pipeline):
``token`` decodes every sub-word on its own; ``first``, ``average`` and
``max`` first reduce the sub-words of each tokenizer word to one
distribution, so an entity never starts or ends inside a word.

The score of an entity is the mean, over its units, of the probability mass
on its type (``B-X`` + ``I-X``): it stays high when the model is sure of the
type but hesitates between B and I.
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


def _unit_probs(probs: np.ndarray, unit: np.ndarray, aggregation: Aggregation) -> np.ndarray:
    if aggregation == "average":
        return probs[unit].mean(axis=0)
    if aggregation == "max":
        return probs[unit[np.argmax(probs[unit].max(axis=1))]]
    return probs[unit[0]]


def decode_entities(
    encoded: EncodedText,
    probs: np.ndarray,
    label_set: LabelSet,
    aggregation: Aggregation = "average",
    threshold: float = 0.0,
) -> list[Entity]:
    """Lenient BIO decoding: ``I-X`` after anything but ``X`` opens a new entity."""
    entities: list[Entity] = []
    current: dict | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            score = float(np.mean(current["scores"]))
            if score >= threshold:
                start, end = current["start"], current["end"]
                entities.append(
                    Entity(start, end, encoded.text[start:end], current["label"], score)
                )
        current = None

    for unit in _units(encoded, aggregation):
        distribution = _unit_probs(probs, unit, aggregation)
        tag = int(np.argmax(distribution))
        label = label_set.type_of(tag)
        if label is None:
            close()
            continue
        type_mass = float(
            distribution[label_set.begin_id(label)] + distribution[label_set.inside_id(label)]
        )
        start, end = int(encoded.offsets[unit[0], 0]), int(encoded.offsets[unit[-1], 1])
        if LabelSet.is_begin(tag) or current is None or current["label"] != label:
            close()
            current = {"label": label, "start": start, "end": end, "scores": []}
        current["end"] = end
        current["scores"].append(type_mass)
    close()
    return entities


def tags_to_probs(tag_ids: np.ndarray, num_tags: int) -> np.ndarray:
    """One-hot distributions for gold tags (ignored positions become ``O``)."""
    probs = np.zeros((len(tag_ids), num_tags), dtype=np.float32)
    probs[np.arange(len(tag_ids)), np.where(tag_ids < 0, 0, tag_ids)] = 1.0
    return probs
