"""The zero-shot decoding policy (nuner.core.zero_shot) on both tokenizer
families: WordPiece (tiny BERT) and byte-level BPE (tiny RoBERTa)."""

from __future__ import annotations

import numpy as np
import pytest

from nuner.core.encoding import EncodedText, TextEncoder
from nuner.core.zero_shot import decode_zero_shot

LABELS = ["person", "location"]


@pytest.fixture(params=["tiny_bert_dir", "tiny_roberta_dir"])
def encoder(request) -> TextEncoder:
    return TextEncoder.from_file(request.getfixturevalue(request.param) / "tokenizer.json")


def scored(encoded: EncodedText, marks: dict[str, dict[int, float]]) -> np.ndarray:
    """Scores (tokens, labels): 0.05 everywhere, the given scores on the tokens
    inside each marked substring."""
    scores = np.full((len(encoded), len(LABELS)), 0.05, np.float32)
    for substring, by_label in marks.items():
        start = encoded.text.index(substring)
        end = start + len(substring)
        inside = (encoded.offsets[:, 0] >= start) & (encoded.offsets[:, 1] <= end)
        inside &= encoded.offsets[:, 1] > encoded.offsets[:, 0]
        for label, value in by_label.items():
            scores[inside, label] = value
    return scores


def spans(entities) -> list[tuple[str, str]]:
    return [(e.text, e.label) for e in entities]


def test_words_of_one_label_form_one_entity_with_exact_offsets(encoder):
    encoded = encoder.encode("Barack Obama visited New York.")
    marks = {"Barack Obama": {0: 0.9}, "New York": {1: 0.8}}
    entities = decode_zero_shot(encoded, scored(encoded, marks), LABELS)
    assert spans(entities) == [("Barack Obama", "person"), ("New York", "location")]
    assert all(encoded.text[e.start : e.end] == e.text for e in entities)
    assert entities[0].score == pytest.approx(0.9)


def test_a_word_scores_the_mean_of_its_sub_words(encoder):
    text = "Zyxwvutsrq met us."
    encoded = encoder.encode(text)
    word = [i for i, (s, e) in enumerate(encoded.offsets.tolist()) if s < 10 and e > 0]
    assert len(word) >= 2, "the probe word must split into sub-words"
    scores = np.full((len(encoded), 2), 0.05, np.float32)
    scores[word[0], 0] = 0.9  # only its first sub-word looks like a person
    assert decode_zero_shot(encoded, scores, LABELS) == []
    scores[word, 0] = 0.9
    assert spans(decode_zero_shot(encoded, scores, LABELS)) == [("Zyxwvutsrq", "person")]


def test_threshold_ties_and_multi_label(encoder):
    encoded = encoder.encode("Paris Hilton flew to Paris.")
    marks = {"Paris Hilton": {0: 0.7, 1: 0.7}}
    scores = scored(encoded, marks)
    last = encoded.text.rindex("Paris")
    scores[(encoded.offsets[:, 0] >= last) & (encoded.offsets[:, 1] <= last + 5), 1] = 0.6
    assert spans(decode_zero_shot(encoded, scores, LABELS)) == [
        ("Paris Hilton", "person"),  # a tie: the label listed first
        ("Paris", "location"),
    ]
    assert spans(decode_zero_shot(encoded, scores, LABELS, threshold=0.65)) == [
        ("Paris Hilton", "person")
    ]
    assert spans(decode_zero_shot(encoded, scores, LABELS, multi_label=True)) == [
        ("Paris Hilton", "location"),
        ("Paris Hilton", "person"),
        ("Paris", "location"),
    ]


def test_emoji_cjk_and_runs_of_spaces_keep_code_point_offsets(encoder):
    text = "東京 🙂   met\n\n  Berlin   today"
    encoded = encoder.encode(text)
    scores = scored(encoded, {"Berlin": {1: 0.9}})
    scores[~encoded.has_content, 1] = 0.99  # whitespace-only tokens never join an entity
    entities = decode_zero_shot(encoded, scores, LABELS)
    assert spans(entities) == [("Berlin", "location")]
    assert text[entities[0].start : entities[0].end] == "Berlin"


def test_nothing_to_decode():
    assert decode_zero_shot(_empty(), np.zeros((0, 2)), LABELS) == []


def _empty() -> EncodedText:
    return EncodedText(
        text="",
        ids=np.zeros(0, np.int64),
        offsets=np.zeros((0, 2), np.int64),
        word_ids=np.zeros(0, np.int64),
        has_content=np.zeros(0, bool),
        shapes=np.zeros(0, np.int64),
    )
