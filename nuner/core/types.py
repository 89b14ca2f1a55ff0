"""The span, example and entity types shared by every part of the project.

Offsets are Python ``str`` indices (Unicode code points), ``end`` exclusive,
into the text exactly as given: the same convention as ../shared/datasets and
the service API.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nuner.core.errors import InvalidInput


class SpanError(InvalidInput, ValueError):
    """An example whose spans break the offset contract."""

    code = "invalid_span"


@dataclass(frozen=True, slots=True, order=True)
class Span:
    start: int
    end: int
    label: str

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Example:
    """One text with its gold spans; ``tokens`` is optional metadata only."""

    text: str
    spans: tuple[Span, ...] = ()
    tokens: tuple[str, ...] | None = None

    @classmethod
    def create(
        cls, text: str, spans: Iterable[Span] = (), tokens: Sequence[str] | None = None
    ) -> Example:
        return cls(text, tuple(sorted(spans)), tuple(tokens) if tokens is not None else None)

    @property
    def labels(self) -> set[str]:
        return {span.label for span in self.spans}

    def validate(self) -> None:
        """Raise SpanError unless every span is a non-empty, in-range, non-overlapping slice."""
        previous: Span | None = None
        for span in sorted(self.spans):
            if not (isinstance(span.start, int) and isinstance(span.end, int)):
                raise SpanError(f"span offsets must be integers: {span}")
            if not 0 <= span.start < span.end <= len(self.text):
                raise SpanError(f"span {span} is empty or outside text of length {len(self.text)}")
            if not span.label:
                raise SpanError(f"span {span} has an empty label")
            if previous is not None and previous.overlaps(span):
                raise SpanError(f"spans {previous} and {span} overlap")
            previous = span


@dataclass(frozen=True, slots=True)
class Entity:
    """A predicted entity: a span plus its surface text and a confidence score."""

    start: int
    end: int
    text: str
    label: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "label": self.label,
            "score": round(float(self.score), 6),
        }

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.label)


@dataclass(slots=True)
class DatasetSplits:
    """A dataset directory: train, optional dev, optional test."""

    train: list[Example]
    dev: list[Example] | None = None
    test: list[Example] | None = None
    labels: list[str] = field(default_factory=list)
