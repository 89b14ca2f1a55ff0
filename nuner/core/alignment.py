"""Character spans -> per-token BIO training labels, through the offset mapping.

Policy for a span whose edge falls inside a sub-word token (``misaligned``):
``expand`` (default) grows the span to the boundaries of the tokens it
touches; ``drop`` discards it. Spans that cover no token with content and
spans that would share a token with an earlier span are dropped. Every case
is counted in an :class:`AlignmentReport`, never silently lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from nuner.core.encoding import EncodedText, trim_offsets
from nuner.core.labels import IGNORE_INDEX, LabelSet
from nuner.core.types import Span

MisalignedPolicy = Literal["expand", "drop"]


@dataclass
class AlignmentReport:
    spans: int = 0
    aligned: int = 0
    expanded: int = 0
    dropped_misaligned: int = 0
    dropped_no_tokens: int = 0
    dropped_overlap: int = 0

    def add(self, other: AlignmentReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def dropped(self) -> int:
        return self.dropped_misaligned + self.dropped_no_tokens + self.dropped_overlap

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class AlignedLabels:
    """Tag id per token (IGNORE_INDEX for whitespace-only tokens) and the spans the
    labels actually encode (after expansion and drops)."""

    tag_ids: np.ndarray
    spans: tuple[Span, ...]
    report: AlignmentReport


def tokens_covering(encoded: EncodedText, start: int, end: int) -> np.ndarray:
    """Indices of content tokens that overlap the character range [start, end)."""
    offsets = encoded.offsets
    hit = encoded.has_content & (offsets[:, 0] < end) & (offsets[:, 1] > start)
    return np.flatnonzero(hit)


def align_spans(
    encoded: EncodedText,
    spans: Iterable[Span],
    label_set: LabelSet,
    policy: MisalignedPolicy = "expand",
) -> AlignedLabels:
    tag_ids = np.where(encoded.has_content, 0, IGNORE_INDEX).astype(np.int64)
    taken = np.zeros(len(encoded), dtype=bool)
    report, kept = AlignmentReport(), []
    for span in sorted(spans):
        report.spans += 1
        start, end = trim_offsets(encoded.text, span.start, span.end)
        covered = tokens_covering(encoded, start, end)
        if len(covered) == 0:
            report.dropped_no_tokens += 1
            continue
        token_start = int(encoded.offsets[covered[0], 0])
        token_end = int(encoded.offsets[covered[-1], 1])
        on_boundaries = (token_start, token_end) == (start, end)
        if not on_boundaries and policy == "drop":
            report.dropped_misaligned += 1
            continue
        if taken[covered[0] : covered[-1] + 1].any():
            report.dropped_overlap += 1
            continue
        report.aligned += on_boundaries
        report.expanded += not on_boundaries
        _write_tags(tag_ids, covered, label_set, span.label)
        taken[covered[0] : covered[-1] + 1] = True
        kept.append(Span(token_start, token_end, span.label))
    return AlignedLabels(tag_ids, tuple(kept), report)


def _write_tags(tag_ids: np.ndarray, covered: np.ndarray, labels: LabelSet, label: str) -> None:
    tag_ids[covered] = labels.inside_id(label)
    tag_ids[covered[0]] = labels.begin_id(label)
