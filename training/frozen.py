"""Frozen-encoder fine-tuning: encode every training window once, then train the
head on the cached token features.

With the encoder frozen its output never changes, so running it every epoch
only repeats work: caching makes 30 epochs cost one encoder pass, the
difference between minutes and seconds on a CPU. This is the protocol of the
NuNER paper's main few-shot tables (frozen encoder + classifier), which
measures the encoder itself. The encoder runs in eval mode here (no dropout
inside it); the head's own dropout still applies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from nuner.core.labels import IGNORE_INDEX
from nuner.training.data import TrainingWindow, collate
from nuner.training.model import NunerTagger, tagging_loss


@dataclass(frozen=True)
class CachedWindow:
    features: torch.Tensor  # (tokens, feature width)
    tag_ids: torch.Tensor  # (tokens,)


@torch.no_grad()
def encode_windows(
    model: NunerTagger,
    windows: Sequence[TrainingWindow],
    pad_id: int,
    device: torch.device,
    batch_size: int = 32,
) -> list[CachedWindow]:
    """Each window's token features from the (frozen) encoder, kept on ``device``."""
    was_training = model.training
    model.eval()
    cached = []
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        batch = collate(chunk, pad_id)
        features = model.features(
            batch["input_ids"].to(device),
            batch["attention_mask"].to(device),
            shape_ids=batch["shape_ids"].to(device),
        )
        for row, window in enumerate(chunk):
            length = len(window.ids)
            cached.append(CachedWindow(features[row, :length], batch["labels"][row, :length]))
    model.train(was_training)
    return cached


def head_losses(
    model: NunerTagger,
    cached: Sequence[CachedWindow],
    batch_size: int,
    generator: torch.Generator,
    label_smoothing: float = 0.0,
) -> Iterator[torch.Tensor]:
    """One shuffled epoch over the cached features: the head's loss per batch."""
    order = torch.randperm(len(cached), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        chunk = [cached[i] for i in order[start : start + batch_size]]
        features = pad_sequence([c.features for c in chunk], batch_first=True)
        labels = pad_sequence(
            [c.tag_ids for c in chunk], batch_first=True, padding_value=IGNORE_INDEX
        ).to(features.device)
        yield tagging_loss(model.head(features), labels, label_smoothing)
