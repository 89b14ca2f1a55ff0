"""Strict entity-level precision / recall / F1 (exact span and type), micro and per type.

Matches seqeval's IOB2 strict mode when spans sit on token boundaries (the
tests cross-check this); unlike seqeval it works on character spans, so it
needs no tokenisation and scores any tokenizer's output the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from nuner.core.types import Span


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int  # gold mentions
    predicted: int
    correct: int

    @classmethod
    def from_counts(cls, correct: int, predicted: int, support: int) -> Scores:
        precision = correct / predicted if predicted else 0.0
        recall = correct / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, support, predicted, correct)


@dataclass(frozen=True)
class EntityReport:
    micro: Scores
    per_type: dict[str, Scores]

    @property
    def macro_f1(self) -> float:
        with_support = [s.f1 for s in self.per_type.values() if s.support]
        return sum(with_support) / len(with_support) if with_support else 0.0

    def to_dict(self) -> dict:
        return {
            "micro": asdict(self.micro),
            "macro_f1": self.macro_f1,
            "per_type": {label: asdict(s) for label, s in sorted(self.per_type.items())},
        }


def entity_scores(
    gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]
) -> EntityReport:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold examples but {len(predicted)} predictions")
    support: Counter[str] = Counter()
    guessed: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        support.update(s.label for s in gold_set)
        guessed.update(s.label for s in predicted_set)
        correct.update(s.label for s in gold_set & predicted_set)
    per_type = {
        label: Scores.from_counts(correct[label], guessed[label], support[label])
        for label in support | guessed
    }
    micro = Scores.from_counts(sum(correct.values()), sum(guessed.values()), sum(support.values()))
    return EntityReport(micro, per_type)
