"""Sampler invariants on the real datasets."""

from collections import Counter

import pytest

from nuner.core.datasets import read_jsonl
from nuner.training.sampling import (
    SamplingError,
    entity_word_counts,
    mention_counts,
    sample_k_2k,
    sample_kw,
)
from tests.conftest import dataset_path

DATASETS = ["conll2003", "wnut2017", "mit_movie", "mit_restaurant"]


@pytest.fixture(scope="module", params=DATASETS)
def train(request):
    return read_jsonl(dataset_path(request.param, "train"))


def totals(sample, count=mention_counts):
    result = Counter()
    for example in sample:
        result.update(count(example))
    return result


@pytest.mark.parametrize("k", [1, 4, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_2k_invariants(train, k, seed):
    types = {label for e in train for label in e.labels}
    sample = sample_k_2k(train, k, seed)
    counts = totals(sample)
    assert set(counts) == types
    assert all(k <= counts[t] <= 2 * k for t in types), counts
    assert all(e.spans for e in sample)
    assert len({id(e) for e in sample}) == len(sample)  # no sentence twice
    # greedy: each accepted sentence helped a type that was still below k
    running = Counter()
    for example in sample:
        assert any(running[t] < k for t in example.labels)
        running.update(mention_counts(example))


def test_k_2k_is_seeded(train):
    assert sample_k_2k(train, 4, seed=7) == sample_k_2k(train, 4, seed=7)
    assert sample_k_2k(train, 4, seed=7) != sample_k_2k(train, 4, seed=8)


def test_target_types_restrict_the_sample():
    train = read_jsonl(dataset_path("conll2003", "train"))
    sample = sample_k_2k(train, 4, seed=0, types={"PER", "LOC"})
    assert set().union(*(e.labels for e in sample)) <= {"PER", "LOC"}
    assert all(4 <= c <= 8 for c in totals(sample).values())


def test_unreachable_k_gives_a_clear_error():
    train = read_jsonl(dataset_path("wnut2017", "train"))
    with pytest.raises(SamplingError, match="cannot sample 100000 mentions per type"):
        sample_k_2k(train, 100_000, seed=0)
    with pytest.raises(SamplingError, match="only"):
        sample_k_2k(train[:50], 4, seed=0, types={"person", "no-such-type"})


@pytest.mark.parametrize("words", [4, 20])
def test_kw_word_budget_invariants(train, words):
    sample = sample_kw(train, words, seed=3)
    counts = totals(sample, entity_word_counts)
    types = {label for e in train for label in e.labels}
    assert set(counts) == types
    assert all(words <= counts[t] <= 2 * words for t in types), counts
    assert sample_kw(train, words, seed=3) == sample
