"""Small dense sets (100-200 long sentences, 9-17 types each): no k~2k draw
exists, so the best-effort sampler gives the closest one and says so."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nuner.core.datasets import example_to_dict, read_jsonl
from nuner.core.types import Example, Span
from nuner.training.fewshot import run_fewshot, summarize
from nuner.training.report import markdown_table
from nuner.training.sampling import (
    SamplingError,
    mention_totals,
    sample_best_effort,
    sample_k_2k,
)
from tests.conftest import dataset_path

NUNER = str(Path(sys.executable).with_name("nuner"))
TYPES = [f"T{i:02d}" for i in range(14)]


def dense_set(sentences: int = 150, seed: int = 0) -> list[Example]:
    """Long sentences with 5-13 of 14 types (9 on average): the first type in
    every sentence, the last in a third of them, one to three mentions of each."""
    rng = random.Random(seed)
    examples = []
    for n in range(sentences):
        text, spans = "", []
        present = [t for i, t in enumerate(TYPES) if rng.random() < 1 - 0.05 * i] or TYPES[:9]
        for label in present:
            for _ in range(rng.randint(1, 3)):
                word = f"{label.lower()}w{n}"
                spans.append(Span(len(text), len(text) + len(word), label))
                text += word + " and then "
        examples.append(Example.create(text.strip(), spans))
    return examples


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_no_k_2k_draw_exists_and_best_effort_reports_the_closest(k):
    examples = dense_set()
    for seed in range(3):
        with pytest.raises(SamplingError, match="--best-effort"):
            sample_k_2k(examples, k, seed)
        drawn = sample_best_effort(examples, k, seed)
        assert drawn.best_effort and drawn.examples
        assert drawn.counts == mention_totals(drawn.examples, TYPES)
        assert drawn.short == {}  # every type is frequent enough to reach k
        assert drawn.over and all(c > 2 * k for c in drawn.over.values())
        assert "best effort" in drawn.describe() and str(k) in drawn.describe()
        assert sample_best_effort(examples, k, seed) == drawn  # seeded
    assert (
        sample_best_effort(examples, k, 0).examples != sample_best_effort(examples, k, 1).examples
    )


def test_best_effort_is_the_k_2k_draw_where_one_exists():
    train = read_jsonl(dataset_path("conll2003", "train"))
    drawn = sample_best_effort(train, 4, seed=3)
    assert not drawn.best_effort and drawn.examples == sample_k_2k(train, 4, seed=3)
    assert drawn.short == {} and drawn.over == {}


def test_a_rare_type_stays_short_and_is_named():
    examples = dense_set(40)
    rare = Example.create("only once here", [Span(0, 4, "RARE")])
    drawn = sample_best_effort([*examples, rare], 3, seed=0)
    assert drawn.best_effort and drawn.short == {"RARE": 1}


def test_the_cli_samples_best_effort_and_says_so(tmp_path):
    source = tmp_path / "dense.jsonl"
    source.write_text("".join(json.dumps(example_to_dict(e)) + "\n" for e in dense_set()))
    strict = subprocess.run(
        [NUNER, "sample", str(source), "--out", str(tmp_path / "a.jsonl"), "--k", "2"],
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 1 and "--best-effort" in strict.stderr
    relaxed = subprocess.run(
        [NUNER, "sample", str(source), "--out", str(tmp_path / "b.jsonl"), "--k", "2"]
        + ["--best-effort"],
        capture_output=True,
        text=True,
    )
    assert relaxed.returncode == 0, relaxed.stderr
    assert "best effort: mentions per type" in relaxed.stderr and "above 2k=4" in relaxed.stderr
    assert len(read_jsonl(tmp_path / "b.jsonl")) >= 1


def test_the_protocol_marks_best_effort_runs(tiny_bert_dir, tmp_path):
    from nuner.core.hyperparameters import FinetuneConfig

    examples = dense_set(120)
    for split, part in (("train", examples[:100]), ("test", examples[100:])):
        (tmp_path / f"{split}.jsonl").write_text(
            "".join(json.dumps(example_to_dict(e)) + "\n" for e in part)
        )
    config = FinetuneConfig(epochs=1, batch_size=8, max_length=64)
    with pytest.raises(SamplingError):
        run_fewshot(tmp_path, str(tiny_bert_dir), [2], [0], config)
    runs = run_fewshot(tmp_path, str(tiny_bert_dir), [2], [0, 1], config, best_effort=True)
    assert all(r.best_effort and r.mentions_per_type for r in runs)
    summary = summarize(runs)[tmp_path.name]
    assert summary[2]["best_effort"] == 2
    assert "2 best-effort" in markdown_table({"tiny": summarize(runs)})
