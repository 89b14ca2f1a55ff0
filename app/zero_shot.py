"""Zero-shot extraction in the service: labels checked, their vectors cached,
and the batcher's run/finish pair for an encoder.

The text encoder's pass does not depend on the labels, so requests with
different labels for one encoder share a batch: the batch computes token
vectors once, and each request scores them against its own label vectors
(decoding policy: ``nuner.core.zero_shot``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from nuner.app.errors import ApiError
from nuner.app.metrics import ServiceMetrics
from nuner.app.runtime import FinishFn, RunFn
from nuner.app.settings import Settings
from nuner.core.concepts import normalize_concept
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.zero_shot import decode_zero_shot


@dataclass(frozen=True)
class LabelQuery:
    """A request's labels: the names entities carry, and what the concept
    encoder reads for each (its description, or the name itself)."""

    names: list[str]
    reads: list[str]
    threshold: float
    multi_label: bool


def check_labels(labels: list[str] | dict[str, str], settings: Settings) -> tuple[list, list]:
    """(names, reads), or one 422 that names every problem found."""
    described = isinstance(labels, dict)
    pairs = list(labels.items()) if described else [(n, n) for n in labels]
    problems: list[dict] = []
    if not pairs:
        problems.append({"problem": "no labels: give at least one"})
    if len(pairs) > settings.zero_shot_max_labels:
        problems.append(
            {"problem": f"{len(pairs)} labels; at most {settings.zero_shot_max_labels}"}
        )
    seen: dict[str, int] = {}
    for index, (name, read) in enumerate(pairs):
        where = {"index": index, "label": name}
        if not name.strip():
            problems.append({**where, "problem": "empty label"})
        elif len(name) > settings.max_label_chars:
            problems.append(
                {**where, "problem": f"{len(name)} characters; at most {settings.max_label_chars}"}
            )
        elif name in seen:
            problems.append({**where, "problem": f"duplicate of label {seen[name]}"})
        seen.setdefault(name, index)
        if not described:
            continue
        if not read.strip():
            problems.append({**where, "problem": "empty description"})
        elif len(read) > settings.zero_shot_max_description_chars:
            limit = settings.zero_shot_max_description_chars
            problems.append(
                {**where, "problem": f"description of {len(read)} characters; at most {limit}"}
            )
    if problems:
        first = problems[0]
        prefix = f"label {first['index']}: " if "index" in first else ""
        raise ApiError(422, "invalid_labels", prefix + first["problem"], problems)
    return [n for n, _ in pairs], [r for _, r in pairs]


class LabelVectors:
    """Label vectors by (encoder version, normalised text): an LRU bounded in
    entries, so labels invented by clients cannot grow memory without limit.

    Clients send the same label set again and again, so the stacked matrix of
    a whole set is kept too (an LRU bounded by the same number of rows): a
    repeated set of 100 labels costs one dictionary lookup, not 100.
    """

    def __init__(self, capacity: int, metrics: ServiceMetrics) -> None:
        self.capacity = capacity
        self.metrics = metrics
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._sets: OrderedDict[tuple[str, tuple[str, ...]], np.ndarray] = OrderedDict()
        self._set_rows = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def rows_held(self) -> int:
        """Vectors held in both LRUs: at most twice ``capacity``."""
        return len(self._vectors) + self._set_rows

    def get(self, encoder_ref: str, encoder: OnnxEncoder, reads: list[str]) -> np.ndarray:
        """``(len(reads), hidden)``; the missing ones computed in one concept pass."""
        set_key = (encoder_ref, tuple(reads))
        with self._lock:
            stacked = self._sets.get(set_key)
            if stacked is not None:
                self._sets.move_to_end(set_key)
        if stacked is not None:
            self.metrics.label_vectors.labels("hit").inc(len(reads))
            return stacked
        stacked = self._lookup(encoder_ref, encoder, reads)
        with self._lock:
            if set_key not in self._sets:
                self._sets[set_key] = stacked
                self._set_rows += len(stacked)
            while self._set_rows > self.capacity:
                self._set_rows -= len(self._sets.popitem(last=False)[1])
        return stacked

    def _lookup(self, encoder_ref: str, encoder: OnnxEncoder, reads: list[str]) -> np.ndarray:
        keys = [(encoder_ref, normalize_concept(r)) for r in reads]
        with self._lock:
            found = {k: self._vectors[k] for k in keys if k in self._vectors}
            for key in found:
                self._vectors.move_to_end(key)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        self.metrics.label_vectors.labels("hit").inc(len(keys) - len(missing))
        if missing:
            self.metrics.label_vectors.labels("miss").inc(len(missing))
            computed = encoder.label_vectors([text for _, text in missing])
            fresh = dict(zip(missing, computed, strict=True))
            found.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        return np.stack([found[k] for k in keys])


def encoder_run(encoder: OnnxEncoder) -> RunFn:
    """The batch's one pass: token vectors of every text."""

    def run(texts: list[str]) -> tuple[list, int]:
        outputs = encoder.encode_texts(texts)
        return outputs, sum(len(encoded) for encoded, _ in outputs)

    return run


def zero_shot_finish(
    encoder_ref: str, encoder: OnnxEncoder, query: LabelQuery, cache: LabelVectors
) -> FinishFn:
    """One request's entities from its share of the token vectors."""

    def finish(outputs: list) -> list:
        labels = cache.get(encoder_ref, encoder, query.reads)
        return [
            decode_zero_shot(
                encoded,
                encoder.score(vectors, labels),
                query.names,
                query.threshold,
                query.multi_label,
            )
            for encoded, vectors in outputs
        ]

    return finish
