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
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

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
    targets = set(types) if types is not None else {label for e in examples for label in e.labels}
    eligible = [(e, count(e)) for e in examples if e.spans and e.labels <= targets]
    _check_reachable(eligible, targets, floor, unit)

    order = list(range(len(eligible)))
    random.Random(seed).shuffle(order)
    totals: Counter[str] = Counter({t: 0 for t in targets})
    chosen: list[Example] = []
    for index in order:
        example, counts = eligible[index]
        if any(totals[t] + c > cap for t, c in counts.items()):
            continue
        if not any(totals[t] < floor for t in counts):
            continue
        chosen.append(example)
        totals.update(counts)
        if all(totals[t] >= floor for t in targets):
            return chosen
    short = {t: totals[t] for t in sorted(targets) if totals[t] < floor}
    raise SamplingError(
        f"greedy sampling (seed {seed}) could not reach {floor} {unit} for {short} "
        f"without exceeding {cap}; try another seed or a smaller budget"
    )


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
