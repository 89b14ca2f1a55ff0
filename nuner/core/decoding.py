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

from nuner.core.encoding import EncodedText, Window
from nuner.core.labels import LabelSet
from nuner.core.types import Entity

Aggregation = Literal["token", "first", "average", "max"]
AGGREGATIONS: tuple[str, ...] = ("token", "first", "average", "max")
# lenient: per unit, best type and B-or-I on their own; viterbi: the most probable
# valid BIO sequence over the units (I-X only after B-X or I-X): +3.5 F1 on dev
# for few-shot taggers (docs/decoding.md); bundles made before it keep lenient;
# viterbi-join: viterbi, then entities of one type with only whitespace (or nothing)
# between them are one ("Barack Obama" said B-PER B-PER), which gold spans almost never are,
# and so are those that punctuation inside one written word separates ("U.K.", join_attached)
Decoding = Literal["lenient", "viterbi", "viterbi-join"]


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


def unit_starts(encoded: EncodedText, content: np.ndarray, aggregation: Aggregation) -> np.ndarray:
    """Positions in ``content`` where a unit (a sub-word, or a tokenizer word) starts."""
    if aggregation == "token":
        return np.arange(len(content))
    words = encoded.word_ids[content]
    breaks = np.flatnonzero((words[1:] != words[:-1]) | (words[1:] < 0)) + 1
    return np.concatenate([[0], breaks]).astype(np.int64)


def unit_distributions(
    probs: np.ndarray, starts: np.ndarray, aggregation: Aggregation
) -> np.ndarray:
    """One tag distribution per unit (``probs`` holds content tokens only)."""
    if aggregation == "average":
        sizes = np.diff(np.append(starts, len(probs)))
        return np.add.reduceat(probs, starts, axis=0) / sizes[:, None]
    if aggregation == "max":
        peak = probs.max(axis=1)
        sizes = np.diff(np.append(starts, len(probs)))
        unit_peak = np.repeat(np.maximum.reduceat(peak, starts), sizes)
        candidates = np.flatnonzero(peak == unit_peak)
        return probs[candidates[np.searchsorted(candidates, starts)]]
    return probs[starts]


def decode_entities(
    encoded: EncodedText,
    probs: np.ndarray,
    label_set: LabelSet,
    aggregation: Aggregation = "average",
    threshold: float = 0.0,
    decoding: Decoding = "lenient",
) -> list[Entity]:
    """Lenient BIO decoding: ``I-X`` after anything but ``X`` opens a new entity.

    Per unit, the type is chosen on B+I mass, so B/I hesitation cannot hide an
    entity; B versus I is read from the unit's first sub-word, so two adjacent
    entities of one type stay apart even when a word's later sub-words say ``I``.
    ``decoding="viterbi"`` chooses types and B/I jointly instead (``viterbi_tags``);
    ``"viterbi-join"`` then also joins same-type entities that only whitespace (or
    nothing: "U", ".", "K", "." are four words) separates, and those that
    punctuation inside one written word separates (``join_attached``).
    """
    content = np.flatnonzero(encoded.has_content)
    if len(content) == 0:
        return []
    starts = unit_starts(encoded, content, aggregation)
    firsts = content[starts]
    lasts = content[np.append(starts[1:], len(content)) - 1]
    distribution = unit_distributions(probs[content], starts, aggregation)
    masses = np.concatenate([distribution[:, :1], distribution[:, 1::2] + distribution[:, 2::2]], 1)
    rows = np.arange(len(distribution))
    if decoding in ("viterbi", "viterbi-join"):
        best, begins = viterbi_tags(distribution)
    else:
        best = masses.argmax(axis=1)
        first_probs = probs[firsts]
        begins = first_probs[rows, 2 * best - 1] >= first_probs[rows, 2 * best]
    type_mass = masses[rows, best]

    entities: list[Entity] = []
    label, start, end, scores = None, 0, 0, []

    def close() -> None:
        score = sum(scores) / len(scores) if scores else 0.0
        if label is not None and score >= threshold:
            entities.append(Entity(start, end, encoded.text[start:end], label, score))

    starts_chars = encoded.offsets[firsts, 0].tolist()
    ends_chars = encoded.offsets[lasts, 1].tolist()
    join = decoding == "viterbi-join"
    for unit, (kind, begin, mass) in enumerate(
        zip(best.tolist(), begins.tolist(), type_mass.tolist(), strict=True)
    ):
        unit_label = label_set.entity_types[kind - 1] if kind else None
        spaced = join and not encoded.text[end : starts_chars[unit]].strip()
        if unit_label is not None and unit_label == label and (not begin or spaced):
            end = ends_chars[unit]
            scores.append(mass)
            continue
        close()
        label, scores = unit_label, [mass]
        start, end = starts_chars[unit], ends_chars[unit]
    close()
    return join_attached(entities, encoded.text) if join else entities


def _inside_a_word(gap: str) -> bool:
    """One or two marks with no space around them: "." in "U.K.", "&" in "AT&T"."""
    return 0 < len(gap) <= 2 and not any(c.isspace() or c.isalnum() for c in gap)


def join_attached(entities: list[Entity], text: str) -> list[Entity]:
    """Same-type entities that punctuation inside one written word separates
    ("U", "K" in "U.K.") are one name, which keeps the word's closing mark when it
    repeats the inner one ("U.K" + "."); the tokenizer splits such words, the
    tagger rarely tags the marks, and gold spans almost never end inside a word."""
    joined: list[Entity] = []
    marks: dict[int, str] = {}  # joined entity index -> the mark it was joined over
    for entity in entities:
        last = joined[-1] if joined else None
        gap = text[last.end : entity.start] if last else ""
        if last is None or last.label != entity.label or not _inside_a_word(gap):
            joined.append(entity)
            continue
        score = (last.score + entity.score) / 2
        joined[-1] = Entity(last.start, entity.end, "", entity.label, score)
        marks[len(joined) - 1] = gap

    def closed(index: int, entity: Entity) -> Entity:
        mark = marks.get(index, "")
        after = entity.end + len(mark)
        ends_word = after == len(text) or text[after : after + 1].isspace()
        end = after if mark and text[entity.end : after] == mark and ends_word else entity.end
        return Entity(entity.start, end, text[entity.start : end], entity.label, entity.score)

    return [closed(index, entity) for index, entity in enumerate(joined)]


def viterbi_tags(distribution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most probable tag sequence over units in which ``I-X`` follows only
    ``B-X`` or ``I-X``: per unit, its type index (0: outside) and whether it begins."""
    log = np.log(np.clip(distribution, 1e-9, 1.0))
    tags = distribution.shape[1]
    inside = np.arange(2, tags, 2)
    allowed = np.zeros((tags, tags))  # previous -> next, 0 or -inf
    allowed[:, inside] = -np.inf
    allowed[inside - 1, inside] = allowed[inside, inside] = 0.0
    score = log[0].copy()
    score[inside] = -np.inf  # nothing to continue at the start
    back = np.zeros(distribution.shape, dtype=np.int64)
    for unit in range(1, len(log)):
        candidates = score[:, None] + allowed
        back[unit] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log[unit]
    path = np.empty(len(log), dtype=np.int64)
    path[-1] = score.argmax()
    for unit in range(len(log) - 1, 0, -1):
        path[unit - 1] = back[unit, path[unit]]
    return (path + 1) // 2, path % 2 == 1


def tags_to_probs(tag_ids: np.ndarray, num_tags: int) -> np.ndarray:
    """One-hot distributions for gold tags (ignored positions become ``O``)."""
    probs = np.zeros((len(tag_ids), num_tags), dtype=np.float32)
    probs[np.arange(len(tag_ids)), np.where(tag_ids < 0, 0, tag_ids)] = 1.0
    return probs
