"""Texts -> entities for any backend that maps token ids to tag logits.

The backend is a plain function ``ModelInputs -> logits`` of shapes
(batch, seq) -> (batch, seq, num_tags): a torch model in training and
evaluation, an ONNX Runtime session in serving. Windowing, batching by token
budget, merging and decoding live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise

import numpy as np

from nuner.core.decoding import Aggregation, Decoding, decode_entities, merge_windows, softmax
from nuner.core.encoding import EncodedText, ModelInputs, TextEncoder, Window, pad_batch
from nuner.core.labels import LabelSet
from nuner.core.types import Entity

LogitsFn = Callable[[ModelInputs], np.ndarray]


# What one more inference call costs, in padded tokens. Timed by hand with
# ONNX Runtime on 2 CPU cores (all-MiniLM-L6, int8): 1 x 8 tokens ~1.1 ms,
# 32 x 16 ~26 ms, so ~50 us a token plus ~0.7-1 ms a call, 13-20 tokens' worth.
# Throughput barely moved between 5 and 50 (CoNLL test, calls of 32 texts);
# what the split gives is the ablation row of docs/serve.md.
CALL_COST_TOKENS = 20


def batches_by_token_budget(
    windows: Sequence[Window], max_tokens: int, call_cost: int = CALL_COST_TOKENS
) -> Iterator[list[int]]:
    """Indices of windows, sorted by length, grouped so that each padded batch
    stays in budget and padding plus per-call cost is least.

    Padding is most of the work otherwise: 32 CoNLL sentences padded to their
    longest hold 2.6x their real tokens. Groups are contiguous runs of the
    sorted windows (an optimal split never interleaves lengths), found by
    dynamic programming over the run boundaries.
    """
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    widths = np.array([len(windows[i].ids) for i in order], dtype=np.int64)
    bounds = [*_cheapest_split(widths, max_tokens, call_cost), len(order)]
    for start, end in pairwise(bounds):
        yield order[start:end]


def _cheapest_split(widths: np.ndarray, max_tokens: int, call_cost: int) -> list[int]:
    """Start offsets of the groups of ascending ``widths`` that minimise
    sum(call_cost + rows x widest) with rows x widest <= max_tokens (a group of
    one is always allowed)."""
    count = len(widths)
    cost = np.zeros(count + 1, dtype=np.int64)
    start_of = np.zeros(count + 1, dtype=np.int64)
    for end in range(1, count + 1):
        widest = max(1, int(widths[end - 1]))
        first = max(0, end - max(1, max_tokens // widest))
        starts = np.arange(first, end)
        candidates = cost[first:end] + call_cost + widest * (end - starts)
        best = int(np.argmin(candidates))
        cost[end], start_of[end] = candidates[best], first + best
    bounds, end = [], count
    while end > 0:
        end = int(start_of[end])
        bounds.append(end)
    return bounds[::-1]


def per_token_outputs(
    encoder: TextEncoder,
    texts: Sequence[str],
    run: LogitsFn,
    max_batch_tokens: int,
    call_cost: int = CALL_COST_TOKENS,
) -> list[tuple[EncodedText, np.ndarray]]:
    """Encoded texts with one row of ``run``'s output per token: the texts cut
    into overlapping windows, batched by token budget, run, and merged back
    (each token from the window where it has the most context). Taggers run
    tag distributions through it, encoders token-by-label scores."""
    encoded = [encoder.encode(text) for text in texts]
    windows = [w for i, e in enumerate(encoded) for w in encoder.windows(e, i)]
    outputs: list[np.ndarray | None] = [None] * len(windows)
    for batch in batches_by_token_budget(windows, max_batch_tokens, call_cost):
        result = run(pad_batch([windows[i] for i in batch], encoder.pad_id))
        for row, index in enumerate(batch):
            outputs[index] = result[row, : len(windows[index].ids)]
    per_text: list[list[int]] = [[] for _ in encoded]
    for index, window in enumerate(windows):
        per_text[window.text_index].append(index)
    return [
        (text, merge_windows(len(text), [windows[i] for i in ids], [outputs[i] for i in ids]))
        for text, ids in zip(encoded, per_text, strict=True)
    ]


class TaggerPipeline:
    def __init__(
        self,
        encoder: TextEncoder,
        label_set: LabelSet,
        logits_fn: LogitsFn,
        max_batch_tokens: int = 8192,
        aggregation: Aggregation = "average",
        call_cost: int = CALL_COST_TOKENS,
        decoding: Decoding = "lenient",
    ) -> None:
        self.encoder = encoder
        self.label_set = label_set
        self.logits_fn = logits_fn
        self.max_batch_tokens = max_batch_tokens
        self.aggregation = aggregation
        self.call_cost = call_cost  # a huge value: one padded batch per budget (an ablation)
        self.decoding = decoding

    def token_probs(self, texts: Sequence[str]) -> list[tuple[EncodedText, np.ndarray]]:
        """Encoded texts with one tag distribution per token."""

        def probs(inputs: ModelInputs) -> np.ndarray:
            return softmax(np.asarray(self.logits_fn(inputs), np.float32))

        return per_token_outputs(self.encoder, texts, probs, self.max_batch_tokens, self.call_cost)

    def __call__(self, texts: Sequence[str], threshold: float = 0.0) -> list[list[Entity]]:
        return self.tag(texts, threshold)[0]

    def tag(self, texts: Sequence[str], threshold: float = 0.0) -> tuple[list[list[Entity]], int]:
        """Entities per text, and the sub-word tokens read (for metrics). Keeps no
        state, so the service may run several calls at once."""
        tagged = self.token_probs(texts)
        entities = [
            decode_entities(
                encoded, probs, self.label_set, self.aggregation, threshold, self.decoding
            )
            for encoded, probs in tagged
        ]
        return entities, sum(len(encoded) for encoded, _ in tagged)
