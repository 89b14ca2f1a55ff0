"""Examples -> padded training batches of (window ids, window tag ids)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nuner.core.alignment import AlignmentReport, MisalignedPolicy, align_spans
from nuner.core.encoding import TextEncoder
from nuner.core.hyperparameters import Tagging
from nuner.core.labels import IGNORE_INDEX, OUTSIDE_ID, LabelSet, inside_as_begin
from nuner.core.types import Example


@dataclass(frozen=True)
class TrainingWindow:
    ids: np.ndarray
    tag_ids: np.ndarray
    shape_ids: np.ndarray


def build_windows(
    examples: Sequence[Example],
    encoder: TextEncoder,
    label_set: LabelSet,
    policy: MisalignedPolicy = "expand",
    tagging: Tagging = "bio",
) -> tuple[list[TrainingWindow], AlignmentReport]:
    """Long examples become several overlapping windows, each with its own labels."""
    windows, report = [], AlignmentReport()
    for example in examples:
        encoded = encoder.encode(example.text)
        aligned = align_spans(encoded, example.spans, label_set, policy)
        report.add(aligned.report)
        tag_ids = inside_as_begin(aligned.tag_ids) if tagging == "io" else aligned.tag_ids
        for window in encoder.windows(encoded):
            tags = np.full(len(window.ids), IGNORE_INDEX, dtype=np.int64)
            inside = window.token_index >= 0
            tags[inside] = tag_ids[window.token_index[inside]]
            windows.append(TrainingWindow(window.ids, tags, window.shape_ids))
    return windows, report


def collate(windows: Sequence[TrainingWindow], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(w.ids) for w in windows)
    input_ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(windows), width), dtype=torch.long)
    labels = torch.full((len(windows), width), IGNORE_INDEX, dtype=torch.long)
    shape_ids = torch.zeros((len(windows), width), dtype=torch.long)
    for row, window in enumerate(windows):
        n = len(window.ids)
        input_ids[row, :n] = torch.from_numpy(window.ids)
        attention_mask[row, :n] = 1
        labels[row, :n] = torch.from_numpy(window.tag_ids)
        shape_ids[row, :n] = torch.from_numpy(window.shape_ids)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "shape_ids": shape_ids,
    }


def shuffled_batches(
    windows: Sequence[TrainingWindow], batch_size: int, pad_id: int, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    order = torch.randperm(len(windows), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        yield collate([windows[i] for i in order[start : start + batch_size]], pad_id)


def mask_mentions(
    batch: dict[str, torch.Tensor], rate: float, mask_id: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The batch with each entity sub-word replaced by the mask token at ``rate``: the
    tagger learns to find entities by their context and shape too, as it must for the
    names it has never seen (the words of the examples are a few of the many)."""
    labels = batch["labels"]
    entity = (labels != IGNORE_INDEX) & (labels != OUTSIDE_ID)
    drawn = torch.rand(labels.shape, generator=generator) < rate
    return {**batch, "input_ids": batch["input_ids"].masked_fill(entity & drawn, mask_id)}
