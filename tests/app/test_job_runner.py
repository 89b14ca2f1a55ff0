"""The worker's pure decisions: dev hold-out and failure descriptions."""

from __future__ import annotations

from nuner.app.jobs.runner import describe_failure, split_dev
from nuner.app.settings import Settings
from nuner.core.backbones import BackboneError
from nuner.core.types import Example, Span

SETTINGS = Settings(finetune_holdout_min_examples=10, finetune_holdout_fraction=0.2)


def examples(count: int) -> list[Example]:
    return [Example.create(f"text {n}", [Span(0, 4, "X")]) for n in range(count)]


def test_no_holdout_below_the_threshold_or_with_a_dev_set():
    train = examples(9)
    assert split_dev(train, None, SETTINGS, seed=0) == (train, None)
    dev = examples(2)
    assert split_dev(examples(40), dev, SETTINGS, seed=0)[1] is dev


def test_holdout_is_a_seeded_partition():
    train = examples(20)
    kept, held = split_dev(train, None, SETTINGS, seed=3)
    assert len(held) == 4 and len(kept) == 16
    assert sorted(e.text for e in kept + held) == sorted(e.text for e in train)
    assert split_dev(train, None, SETTINGS, seed=3) == (kept, held)
    assert split_dev(train, None, SETTINGS, seed=4) != (kept, held)


def test_failures_get_a_code_and_one_line():
    assert describe_failure(BackboneError("no such backbone"))[0] == "invalid_backbone"
    code, message = describe_failure(RuntimeError("CUDA out of memory\ntraceback..."))
    assert code == "training_failed" and message == "RuntimeError: CUDA out of memory"
