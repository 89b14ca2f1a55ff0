"""Texts -> entities for any backend that maps token ids to tag logits.

The backend is a plain function ``(input_ids, attention_mask) -> logits`` of
shapes (batch, seq) -> (batch, seq, num_tags): a torch model in training and
evaluation, an ONNX Runtime session in serving. Windowing, batching by token
budget, merging and decoding live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from nuner.decoding import Aggregation, decode_entities, merge_windows, softmax
from nuner.encoding import EncodedText, TextEncoder, Window, pad_batch
from nuner.labels import LabelSet
from nuner.types import Entity

LogitsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def batches_by_token_budget(windows: Sequence[Window], max_tokens: int) -> Iterator[list[int]]:
    """Indices of windows, sorted by length, grouped so that padded size stays in budget."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    batch: list[int] = []
    for index in order:
        width = len(windows[index].ids)  # the longest so far: windows come sorted
        if batch and width * (len(batch) + 1) > max_tokens:
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class TaggerPipeline:
    def __init__(
        self,
        encoder: TextEncoder,
        label_set: LabelSet,
        logits_fn: LogitsFn,
        max_batch_tokens: int = 8192,
        aggregation: Aggregation = "average",
    ) -> None:
        self.encoder = encoder
        self.label_set = label_set
        self.logits_fn = logits_fn
        self.max_batch_tokens = max_batch_tokens
        self.aggregation = aggregation
        self.last_token_count = 0  # tokens of the latest call (for metrics)

    def token_probs(self, texts: Sequence[str]) -> list[tuple[EncodedText, np.ndarray]]:
        """Encoded texts with one tag distribution per token."""
        encoded = [self.encoder.encode(text) for text in texts]
        self.last_token_count = sum(len(e) for e in encoded)
        windows = [w for i, e in enumerate(encoded) for w in self.encoder.windows(e, i)]
        window_probs: list[np.ndarray | None] = [None] * len(windows)
        for batch in batches_by_token_budget(windows, self.max_batch_tokens):
            input_ids, attention_mask = pad_batch([windows[i] for i in batch], self.encoder.pad_id)
            probs = softmax(np.asarray(self.logits_fn(input_ids, attention_mask), np.float32))
            for row, index in enumerate(batch):
                window_probs[index] = probs[row, : len(windows[index].ids)]
        per_text: list[list[int]] = [[] for _ in encoded]
        for index, window in enumerate(windows):
            per_text[window.text_index].append(index)
        return [
            (text, self._merge(len(text), windows, window_probs, ids))
            for text, ids in zip(encoded, per_text, strict=True)
        ]

    @staticmethod
    def _merge(
        num_tokens: int, windows: Sequence[Window], probs: list, ids: list[int]
    ) -> np.ndarray:
        return merge_windows(num_tokens, [windows[i] for i in ids], [probs[i] for i in ids])

    def __call__(self, texts: Sequence[str], threshold: float = 0.0) -> list[list[Entity]]:
        return [
            decode_entities(encoded, probs, self.label_set, self.aggregation, threshold)
            for encoded, probs in self.token_probs(texts)
        ]
