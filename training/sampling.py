"""Few-shot training-set samplers (torch-free).

``sample_k_2k``: the greedy "k~2k" sampler of Few-NERD (Ding et al. 2021) as
used by NuNER: shuffle with a seed; accept a sentence only if it has an
entity, all its types are target types, no type would exceed 2k mentions and
at least one of its types is still below k; stop once every type has k.
Mentions are counted, not sentences.

``sample_kw``: the same greedy scheme with a word budget: the number of words
(whitespace-separated) inside mentions of each type must reach ``w`` and may
not exceed ``ceiling * w``. NuNER's exact "kw" algorithm is not published;
this is our reading, documented in docs/fewshot.md.

``sample_best_effort``: for small dense sets (a hundred long sentences with a
dozen types each), where no draw can give every type k mentions without
giving another more than 2k: the k~2k draw when it exists, else the closest
the greedy gets, reported (``Sample.short``, ``Sample.over``), never silent.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from nuner.core.errors import InvalidInput
from nuner.core.types import Example


class SamplingError(InvalidInput, ValueError):
    """The requested budget cannot be met; the message names the types."""

    code = "sampling_failed"


def mention_counts(example: Example) -> Counter[str]:
    return Counter(span.label for span in example.spans)


def entity_word_counts(example: Example) -> Counter[str]:
    counts: Counter[str] = Counter()
    for span in example.spans:
        counts[span.label] += len(example.text[span.start : span.end].split())
    return counts


@dataclass(frozen=True)
class Sample:
    """A few-shot draw and what it reached: mentions per type against k and 2k."""

    examples: list[Example]
    counts: dict[str, int]
    k: int
    best_effort: bool  # True: the k~2k budget could not be met exactly

    @property
    def short(self) -> dict[str, int]:
        """Types with fewer than k mentions (their counts)."""
        return {t: c for t, c in self.counts.items() if c < self.k}

    @property
    def over(self) -> dict[str, int]:
        """Types with more than 2k mentions (their counts)."""
        return {t: c for t, c in self.counts.items() if c > 2 * self.k}

    def describe(self) -> str:
        sentences = f"{len(self.examples)} sentences"
        if not self.best_effort:
            return f"{sentences}, k~2k met: {self.counts}"
        return (
            f"{sentences}, best effort: mentions per type {self.counts}; "
            f"below k={self.k}: {self.short or 'none'}; above 2k={2 * self.k}: "
            f"{self.over or 'none'}"
        )


def sample_best_effort(
    examples: Sequence[Example], k: int, seed: int, types: Iterable[str] | None = None
) -> Sample:
    """``sample_k_2k``'s draw when it exists; otherwise, from the strict greedy
    pass on, add the sentence that raises a type still under k at the least
    excess over 2k (ties: the seeded order) until every type reaches k or no
    sentence can raise one. Types that appear in too few sentences stay short."""
    if k < 1:
        raise SamplingError(f"the budget must be at least 1 mentions, got {k}")
    targets = _targets(examples, types)
    eligible = _eligible(examples, targets, mention_counts)
    order = _seeded_order(eligible, seed)
    first_pass, totals = _greedy_pass(eligible, order, targets, k, 2 * k)
    taken = set(first_pass)
    complete = all(totals[t] >= k for t in targets)
    while not all(totals[t] >= k for t in targets):
        helping = [
            i for i in order if i not in taken and any(totals[t] < k for t in eligible[i][1])
        ]
        if not helping:
            break
        best = min(helping, key=lambda i: _excess(totals, eligible[i][1], 2 * k))
        taken.add(best)
        totals.update(eligible[best][1])
    chosen = [eligible[i][0] for i in order if i in taken]  # in the seeded order
    return Sample(chosen, dict(sorted(totals.items())), k, best_effort=not complete)


def mention_totals(examples: Sequence[Example], types: Iterable[str]) -> dict[str, int]:
    """Mentions per type of a draw (every type listed, 0 where absent)."""
    totals: Counter[str] = Counter({t: 0 for t in types})
    for example in examples:
        totals.update(mention_counts(example))
    return dict(sorted(totals.items()))


def _excess(totals: Counter[str], counts: Counter[str], cap: int) -> int:
    """Mentions beyond ``cap`` that adding ``counts`` would add."""
    return sum(max(0, totals[t] + c - cap) - max(0, totals[t] - cap) for t, c in counts.items())


def sample_k_2k(
    examples: Sequence[Example], k: int, seed: int, types: Iterable[str] | None = None
) -> list[Example]:
    """At least k and at most 2k mentions of every target type."""
    return _greedy_sample(examples, k, 2 * k, seed, types, mention_counts, "mentions")


def sample_kw(
    examples: Sequence[Example],
    words: int,
    seed: int,
    types: Iterable[str] | None = None,
    ceiling: float = 2.0,
) -> list[Example]:
    """At least ``words`` and at most ``ceiling * words`` entity words per target type."""
    return _greedy_sample(
        examples, words, int(ceiling * words), seed, types, entity_word_counts, "entity words"
    )


def _greedy_sample(
    examples: Sequence[Example],
    floor: int,
    cap: int,
    seed: int,
    types: Iterable[str] | None,
    count: Callable[[Example], Counter[str]],
    unit: str,
) -> list[Example]:
    if floor < 1:
        raise SamplingError(f"the budget must be at least 1 {unit}, got {floor}")
    targets = _targets(examples, types)
    eligible = _eligible(examples, targets, count)
    _check_reachable(eligible, targets, floor, unit)
    order = _seeded_order(eligible, seed)
    taken, totals = _greedy_pass(eligible, order, targets, floor, cap)
    if all(totals[t] >= floor for t in targets):
        return [eligible[i][0] for i in taken]
    short = {t: totals[t] for t in sorted(targets) if totals[t] < floor}
    raise SamplingError(
        f"greedy sampling (seed {seed}) could not reach {floor} {unit} for {short} "
        f"without exceeding {cap}; try another seed, a smaller budget, or best effort "
        "(--best-effort)"
    )


def _targets(examples: Sequence[Example], types: Iterable[str] | None) -> set[str]:
    return set(types) if types is not None else {label for e in examples for label in e.labels}


def _eligible(
    examples: Sequence[Example], targets: set[str], count: Callable[[Example], Counter[str]]
) -> list[tuple[Example, Counter[str]]]:
    """Sentences with an entity, all of whose types are targets, with their counts."""
    return [(e, count(e)) for e in examples if e.spans and e.labels <= targets]


def _seeded_order(eligible: list, seed: int) -> list[int]:
    order = list(range(len(eligible)))
    random.Random(seed).shuffle(order)
    return order


def _greedy_pass(
    eligible: list[tuple[Example, Counter[str]]],
    order: list[int],
    targets: set[str],
    floor: int,
    cap: int,
) -> tuple[list[int], Counter[str]]:
    """The k~2k rule over the seeded order: take a sentence if no type would pass
    ``cap`` and one of its types is still under ``floor``; stop once all reach it."""
    totals: Counter[str] = Counter({t: 0 for t in targets})
    taken: list[int] = []
    for index in order:
        counts = eligible[index][1]
        if any(totals[t] + c > cap for t, c in counts.items()):
            continue
        if not any(totals[t] < floor for t in counts):
            continue
        taken.append(index)
        totals.update(counts)
        if all(totals[t] >= floor for t in targets):
            break
    return taken, totals


def _check_reachable(
    eligible: list[tuple[Example, Counter[str]]], targets: set[str], floor: int, unit: str
) -> None:
    available: Counter[str] = Counter()
    for _, counts in eligible:
        available.update(counts)
    missing = {t: available[t] for t in sorted(targets) if available[t] < floor}
    if missing:
        raise SamplingError(
            f"cannot sample {floor} {unit} per type: only {missing} available "
            "in sentences whose types are all targets"
        )
