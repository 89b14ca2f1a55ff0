"""Per-(token, concept) targets, the mask of pairs that count, and the loss.

Masked out: padding, special tokens and whitespace-only tokens (every
concept); and, for a sentence annotated for ``queried`` concepts only, its
unlabelled tokens against any concept outside that set: the annotator was
not asked about them, so "not labelled" does not mean "not an instance".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nuner.training.pretrain.data import PretrainWindow


def targets_and_mask(
    windows: Sequence[PretrainWindow], concepts: Sequence[int], width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch, width, len(concepts))`` float targets and bool mask."""
    column = {concept: j for j, concept in enumerate(concepts)}
    shape = (len(windows), width, len(concepts))
    targets = torch.zeros(shape)
    mask = torch.zeros(shape, dtype=torch.bool)
    for row, window in enumerate(windows):
        content = torch.zeros(width, dtype=torch.bool)
        content[: len(window.content)] = torch.from_numpy(window.content)
        if window.queried is None:
            mask[row] = content[:, None]
        else:
            asked = [column[c] for c in window.queried if c in column]
            mask[row][:, asked] = content[:, None]
        for position, concept in window.positives.tolist():
            if concept in column:
                targets[row, position, column[concept]] = 1.0
                mask[row, position, column[concept]] = bool(content[position])
    return targets, mask


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the pairs that count."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1)
