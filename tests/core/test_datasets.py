import json

import pytest

from nuner.core.datasets import (
    DatasetError,
    load_dataset_dir,
    read_conll,
    read_jsonl,
    selection_split,
    spans_to_tags,
    tags_to_spans,
    whitespace_tokens,
    write_conll,
    write_jsonl,
)
from nuner.core.types import Example, Span, SpanError
from tests.conftest import DATASETS, dataset_path

EVAL_SETS = ["conll2003", "wnut2017", "mit_movie", "mit_restaurant"]


@pytest.mark.parametrize("name", EVAL_SETS)
def test_shared_jsonl_round_trips_byte_for_byte(name, tmp_path):
    source = dataset_path(name, "test")
    examples = read_jsonl(source)
    write_jsonl(tmp_path / "out.jsonl", examples)
    original = [json.loads(line) for line in source.read_text().splitlines()]
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert written == original


@pytest.mark.parametrize("name", EVAL_SETS)
def test_conll_round_trip_keeps_text_and_spans(name, tmp_path):
    examples = read_jsonl(dataset_path(name, "test"))
    write_conll(tmp_path / "test.conll", examples)
    again = read_conll(tmp_path / "test.conll")
    assert [(e.text, e.spans) for e in again] == [(e.text, e.spans) for e in examples]


def test_tags_to_spans_reads_iob1_iob2_and_bioes():
    offsets = [(0, 1), (2, 3), (4, 5), (6, 7)]
    iob1 = ["I-PER", "I-PER", "B-PER", "O"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O"]
    bioes = ["B-PER", "E-PER", "S-PER", "O"]
    expected = [Span(0, 3, "PER"), Span(4, 5, "PER")]
    assert tags_to_spans(iob1, offsets) == expected
    assert tags_to_spans(iob2, offsets) == expected
    assert tags_to_spans(bioes, offsets) == expected
    assert tags_to_spans(["I-LOC", "I-ORG"], offsets[:2]) == [Span(0, 1, "LOC"), Span(2, 3, "ORG")]


def test_spans_to_tags_refuses_spans_off_token_boundaries():
    offsets = whitespace_tokens("New York City")
    assert spans_to_tags([Span(0, 8, "LOC")], offsets) == ["B-LOC", "I-LOC", "O"]
    with pytest.raises(SpanError):
        spans_to_tags([Span(1, 8, "LOC")], offsets)


def test_conll_reader_drops_docstart_and_accepts_tabs(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "Peter\tB-PER\nBlackburn\tI-PER\n"
    )
    examples = read_conll(path)
    assert [e.text for e in examples] == ["EU rejects", "Peter Blackburn"]
    assert examples[1].spans == (Span(0, 15, "PER"),)


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"text": "abc", "spans": [{"start": 0, "end": 9, "label": "X"}]}', "outside"),
        ('{"text": "abc", "spans": [{"start": 1, "end": 1, "label": "X"}]}', "empty"),
        ('{"text": "abc", "spans": [{"start": "0", "end": 1, "label": "X"}]}', "integers"),
        (
            '{"text": "abcd", "spans": [{"start": 0, "end": 2, "label": "X"}, '
            '{"start": 1, "end": 3, "label": "Y"}]}',
            "overlap",
        ),
        ('{"text": "abc", "spans": [{"start": 0, "end": 1, "label": ""}]}', "empty label"),
        ("{not json", "Expecting"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "spans": []}\n' + line + "\n")
    with pytest.raises(DatasetError, match=rf"bad.jsonl:2: .*{problem}"):
        read_jsonl(path)


def test_load_dataset_dir_reads_available_splits():
    splits = load_dataset_dir(DATASETS / "mit_restaurant")
    assert splits.dev is None and len(splits.test) == 1521 and len(splits.train) == 7660
    assert splits.labels == sorted(
        ["Amenity", "Cuisine", "Dish", "Hours", "Location", "Price", "Rating", "Restaurant_Name"]
    )


def test_write_jsonl_keeps_unicode_and_offsets(tmp_path):
    example = Example.create("Zürich 東京 😀", [Span(0, 6, "LOC"), Span(7, 9, "LOC")])
    write_jsonl(tmp_path / "u.jsonl", [example])
    assert read_jsonl(tmp_path / "u.jsonl") == [example]


def test_selection_is_dev_where_there_is_one_else_train_held_out_of_the_pool(tmp_path):
    examples = [Example.create(f"sentence {i}", []) for i in range(1200)]
    write_jsonl(tmp_path / "train.jsonl", examples)
    chosen = selection_split(tmp_path)
    assert chosen.name == "train sample 1000"
    assert len(chosen.examples) == 1000 and len(chosen.pool) == 200
    assert {e.text for e in chosen.examples}.isdisjoint(e.text for e in chosen.pool)
    assert selection_split(tmp_path) == chosen  # seeded: the same sample every time
    write_jsonl(tmp_path / "dev.jsonl", examples[:3])
    with_dev = selection_split(tmp_path)
    assert (with_dev.name, with_dev.examples, with_dev.pool) == ("dev", examples[:3], examples)
