"""Checks on a fine-tune request before it is queued: each problem names the
example and span it is about, so a client can fix its data in one pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from nuner.app.jobs.schemas import ExampleIn, FinetuneRequest
from nuner.app.settings import Settings

MAX_REPORTED = 50


@dataclass(frozen=True)
class Problem:
    location: str
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}"


def find_problems(request: FinetuneRequest, settings: Settings) -> list[Problem]:
    found = [
        *_size_problems(request, settings),
        *_example_problems("examples", request.examples, settings),
        *_example_problems("dev", request.dev or [], settings),
        *_label_problems(request, settings),
    ]
    return found[:MAX_REPORTED]


def _size_problems(request: FinetuneRequest, settings: Settings) -> Iterator[Problem]:
    count = len(request.examples) + len(request.dev or [])
    if count > settings.finetune_max_examples:
        yield Problem(
            "examples",
            f"{count} examples (train + dev); at most {settings.finetune_max_examples}",
        )
    chars = sum(len(e.text) for e in [*request.examples, *(request.dev or [])])
    if chars > settings.finetune_max_chars:
        yield Problem(
            "examples", f"{chars} characters of text; at most {settings.finetune_max_chars}"
        )


def _example_problems(
    field: str, examples: Sequence[ExampleIn], settings: Settings
) -> Iterator[Problem]:
    for index, example in enumerate(examples):
        where = f"{field}[{index}]"
        if not example.text.strip():
            yield Problem(where, "text is empty")
        for position, span in enumerate(example.spans):
            at = f"{where}.spans[{position}]"
            label = span.label.strip()
            if not 0 <= span.start < span.end <= len(example.text):
                kind = "empty" if span.start >= span.end else "outside the text"
                yield Problem(
                    at,
                    f"span [{span.start}, {span.end}) is {kind} (text length {len(example.text)})",
                )
            if not label:
                yield Problem(at, "label is empty")
            elif len(label) > settings.max_label_chars:
                yield Problem(
                    at,
                    f"label is {len(label)} characters; at most {settings.max_label_chars}",
                )
        yield from _overlaps(where, example)


def _overlaps(where: str, example: ExampleIn) -> Iterator[Problem]:
    ordered = sorted(enumerate(example.spans), key=lambda item: (item[1].start, item[1].end))
    for (i, left), (j, right) in pairwise(ordered):
        if right.start < left.end:
            yield Problem(
                f"{where}.spans[{j}]",
                f"[{right.start}, {right.end}) overlaps spans[{i}] [{left.start}, {left.end})",
            )


def _label_problems(request: FinetuneRequest, settings: Settings) -> Iterator[Problem]:
    per_label = Counter(
        label for e in request.examples for label in {s.label.strip() for s in e.spans}
    )
    if not per_label:
        yield Problem("examples", "no example has a span: there is nothing to learn")
    minimum = settings.finetune_min_examples_per_label
    for label, count in sorted(per_label.items()):
        if label and count < minimum:
            yield Problem(
                "examples",
                f"label {label!r} appears in {count} example(s); each label needs at least "
                f"{minimum}",
            )
    limit = settings.zero_shot_max_description_chars
    for label, description in sorted(request.descriptions.items()):
        if label not in per_label:
            yield Problem("descriptions", f"label {label!r} does not occur in the examples")
        elif not description.strip() or len(description) > limit:
            yield Problem(
                "descriptions", f"the description of {label!r} must have 1 to {limit} characters"
            )
    for index, example in enumerate(request.dev or []):
        for position, span in enumerate(example.spans):
            if span.label.strip() and span.label.strip() not in per_label:
                yield Problem(
                    f"dev[{index}].spans[{position}]",
                    f"label {span.label!r} does not occur in the training examples",
                )
