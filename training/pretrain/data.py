"""LLM-annotated sentences -> token windows with per-token concept memberships.

The label of a span is a free-form concept ("football club", "Person"),
normalised (case, whitespace) so that spelling variants meet. A sentence may
carry ``queried_types``: it was annotated for those concepts only, so only
they may serve as negatives for its unlabelled tokens.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nuner.core.concepts import normalize_concept
from nuner.core.encoding import TextEncoder

# Licences of the shared LLM-annotated sets (../shared/datasets/README.md).
KNOWN_LICENCES = {
    "pile_ner_slimer391": "CC BY-NC 4.0",
    "pile_ner_sentences": "CC BY-NC 4.0",
    "nuner_sample1k": "MIT",
}


@dataclass(frozen=True)
class AnnotatedSpan:
    start: int
    end: int
    concept: str
    description: str | None = None


@dataclass(frozen=True)
class AnnotatedExample:
    text: str
    spans: tuple[AnnotatedSpan, ...]
    queried: frozenset[str] | None = None  # None: every concept is a valid negative


def read_annotated(path: str | Path) -> list[AnnotatedExample]:
    """The shared span format, plus optional ``description`` per span and
    ``queried_types`` per sentence."""
    examples = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            record = json.loads(line)
            try:
                spans = tuple(
                    AnnotatedSpan(
                        int(s["start"]),
                        int(s["end"]),
                        normalize_concept(s["label"]),
                        s.get("description"),
                    )
                    for s in record.get("spans", [])
                    if normalize_concept(s["label"])
                )
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: bad span ({error})") from None
            queried = record.get("queried_types")
            examples.append(
                AnnotatedExample(
                    record["text"],
                    spans,
                    None if queried is None else frozenset(map(normalize_concept, queried)),
                )
            )
    return examples


@dataclass
class ConceptVocabulary:
    names: list[str]
    counts: np.ndarray  # mentions per concept, for frequency-smoothed negatives
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_examples(cls, examples: Iterable[AnnotatedExample]) -> ConceptVocabulary:
        counts: Counter[str] = Counter()
        for example in examples:
            counts.update(span.concept for span in example.spans)
            counts.update({name: 0 for name in example.queried or ()})
        names = sorted(counts)
        return cls(names, np.array([counts[n] for n in names], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class PretrainWindow:
    """One model input: ``positives`` are (position, concept id) pairs; ``content``
    marks the positions that take part in the loss (not special, not whitespace);
    ``queried`` limits the negatives (None: any concept)."""

    ids: np.ndarray
    content: np.ndarray
    positives: np.ndarray  # (n, 2) int64
    queried: tuple[int, ...] | None


def build_windows(
    examples: Sequence[AnnotatedExample], encoder: TextEncoder, vocabulary: ConceptVocabulary
) -> list[PretrainWindow]:
    windows = []
    for example in examples:
        encoded = encoder.encode(example.text)
        token_concepts = _token_concepts(example, encoded.offsets, encoded.has_content, vocabulary)
        queried = (
            None
            if example.queried is None
            else tuple(sorted(vocabulary.index[c] for c in example.queried))
        )
        for window in encoder.windows(encoded):
            inside = window.token_index >= 0
            content = np.zeros(len(window.ids), dtype=bool)
            content[inside] = encoded.has_content[window.token_index[inside]]
            pairs = [
                (position, concept)
                for position, token in enumerate(window.token_index)
                if token >= 0
                for concept in token_concepts.get(int(token), ())
            ]
            windows.append(
                PretrainWindow(
                    window.ids,
                    content,
                    np.array(pairs, dtype=np.int64).reshape(-1, 2),
                    queried,
                )
            )
    return windows


def _token_concepts(
    example: AnnotatedExample,
    offsets: np.ndarray,
    has_content: np.ndarray,
    vocabulary: ConceptVocabulary,
) -> dict[int, set[int]]:
    """Every content token overlapping a span instantiates its concept (B and I alike)."""
    found: dict[int, set[int]] = {}
    starts, ends = offsets[:, 0], offsets[:, 1]
    for span in example.spans:
        overlap = (starts < span.end) & (ends > span.start) & has_content
        for token in np.flatnonzero(overlap):
            found.setdefault(int(token), set()).add(vocabulary.index[span.concept])
    return found


def load_sources(
    paths: Sequence[str | Path],
    fraction: float = 1.0,
    seed: int = 0,
    licences: dict[str, str] | None = None,
) -> tuple[list[AnnotatedExample], list[dict]]:
    """Read every file (a dataset directory means its train.jsonl), keep a seeded
    ``fraction`` of each, and describe each source with its licence."""
    examples, sources = [], []
    for given in paths:
        path = Path(given)
        path = path / "train.jsonl" if path.is_dir() else path
        name = path.parent.name if path.name == "train.jsonl" else path.stem
        loaded = read_annotated(path)
        kept = random.Random(seed).sample(loaded, round(len(loaded) * fraction))
        examples += kept
        licence = (licences or {}).get(name) or KNOWN_LICENCES.get(name, "unknown")
        sources.append(
            {"name": name, "path": str(path), "sentences": len(kept), "licence": licence}
        )
    return examples, sources
