"""Negative concepts beyond those of the batch, drawn with probability
proportional to count ** alpha (alpha < 1 flattens the heavy head of frequent
concepts, as word2vec does for negative words)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class NegativeSampler:
    def __init__(self, counts: np.ndarray, alpha: float = 0.75, seed: int = 0) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        weights = np.power(np.maximum(counts, 1.0), alpha)
        self.probabilities = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def sample(self, count: int, exclude: Iterable[int] = ()) -> np.ndarray:
        """Up to ``count`` distinct concept ids, none of them in ``exclude``."""
        excluded = np.fromiter(exclude, dtype=np.int64)
        probabilities = self.probabilities.copy()
        probabilities[excluded] = 0.0
        available = int(np.count_nonzero(probabilities))
        count = min(count, available)
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        probabilities /= probabilities.sum()
        return self.rng.choice(len(probabilities), size=count, replace=False, p=probabilities)
