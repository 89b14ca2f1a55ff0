"""Long texts: overlapping windows, global offsets, merging; decoding details."""

import numpy as np
import pytest

from nuner.core.alignment import align_spans
from nuner.core.datasets import read_jsonl
from nuner.core.decoding import decode_entities, merge_windows, tags_to_probs
from nuner.core.encoding import TextEncoder
from nuner.core.inference import TaggerPipeline, batches_by_token_budget
from nuner.core.labels import LabelSet
from nuner.core.types import Span
from tests.conftest import dataset_path

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


def long_document(count: int = 60):
    """Concatenate real CoNLL sentences into one long text with global gold spans."""
    text, spans = "", []
    for example in read_jsonl(dataset_path("conll2003", "dev"))[:count]:
        spans += [Span(s.start + len(text), s.end + len(text), s.label) for s in example.spans]
        text += example.text + "\n\n"
    return text, spans


@pytest.mark.parametrize("max_length, stride", [(16, 0), (16, 5), (32, 12), (512, 32)])
def test_windows_cover_every_token_within_max_length(wordpiece_tokenizer, max_length, stride):
    encoder = TextEncoder(wordpiece_tokenizer, max_length=max_length, stride=stride)
    encoded = encoder.encode(long_document(20)[0])
    windows = encoder.windows(encoded)
    assert all(len(w.ids) <= max_length for w in windows)
    covered = np.concatenate([w.token_index[w.token_index >= 0] for w in windows])
    assert set(covered.tolist()) == set(range(len(encoded)))
    for before, after in zip(windows, windows[1:]):
        overlap = set(before.token_index.tolist()) & set(after.token_index.tolist()) - {-1}
        assert len(overlap) >= stride


@pytest.mark.parametrize("max_length, stride", [(16, 4), (24, 0), (64, 16)])
def test_gold_spans_survive_windowing_with_global_offsets(
    wordpiece_tokenizer, bpe_tokenizers, max_length, stride
):
    text, spans = long_document()
    for tokenizer in [wordpiece_tokenizer, bpe_tokenizers["prefix=True,trim=True"]]:
        encoder = TextEncoder(tokenizer, max_length=max_length, stride=stride)
        encoded = encoder.encode(text)
        gold = tags_to_probs(align_spans(encoded, spans, LABELS).tag_ids, len(LABELS))
        windows = encoder.windows(encoded)
        assert len(windows) > 5
        window_probs = [
            np.where((w.token_index >= 0)[:, None], gold[np.maximum(w.token_index, 0)], 0)
            for w in windows
        ]
        merged = merge_windows(len(encoded), windows, window_probs)
        entities = decode_entities(encoded, merged, LABELS)
        assert [e.span for e in entities] == spans
        assert all(e.text == text[e.start : e.end] for e in entities)


def test_pipeline_batches_windows_within_token_budget_and_keeps_order(wordpiece_tokenizer):
    encoder = TextEncoder(wordpiece_tokenizer, max_length=32, stride=8)
    text, spans = long_document(30)
    texts = [text, "short one", "", text[:500]]
    seen_batches = []

    person_id = wordpiece_tokenizer.token_to_id("one")

    def logits(inputs):
        """Says O everywhere except B-PER on the token 'one'."""
        input_ids = inputs.input_ids
        seen_batches.append(input_ids.shape)
        out = np.zeros((*input_ids.shape, len(LABELS)), dtype=np.float32)
        out[..., 0] = 5.0
        out[input_ids == person_id, LABELS.begin_id("PER")] = 10.0
        return out

    pipeline = TaggerPipeline(encoder, LABELS, logits, max_batch_tokens=256)
    results = pipeline(texts)
    expected_ones = [text.lower().count(" one ") for text in texts]
    assert [len(r) for r in results][1:3] == [1, 0]
    assert all(e.text.lower() == "one" and e.label == "PER" for r in results for e in r)
    assert len(results[0]) >= expected_ones[0]
    assert all(rows * width <= 256 for rows, width in seen_batches)


def test_batches_by_token_budget_sorts_by_length(wordpiece_tokenizer):
    encoder = TextEncoder(wordpiece_tokenizer, max_length=64, stride=8)
    windows = [
        w
        for i, t in enumerate(["a " * n for n in (50, 3, 20, 3, 40)])
        for w in encoder.windows(encoder.encode(t), i)
    ]
    batches = list(batches_by_token_budget(windows, 130))
    assert sorted(i for b in batches for i in b) == list(range(len(windows)))
    lengths = [len(windows[i].ids) for b in batches for i in b]
    assert lengths == sorted(lengths)


def _probs(rows):
    return np.array(rows, dtype=np.float32)


def test_decoding_scores_threshold_and_lenient_inside(wordpiece_tokenizer):
    labels = LabelSet.from_types(["PER"])  # tags: O, B-PER, I-PER
    encoded = TextEncoder(wordpiece_tokenizer).encode("Ann met Bob Lee")
    probs = _probs(
        [
            [0.1, 0.6, 0.3],  # ann: B-PER
            [0.9, 0.05, 0.05],  # met: O
            [0.2, 0.1, 0.7],  # bob: I-PER without B: opens an entity
            [0.5, 0.0, 0.5],  # lee: O vs PER mass 0.5 / 0.5: tie goes to O (first max)
        ]
    )
    entities = decode_entities(encoded, probs, labels, "token")
    assert [(e.text, round(e.score, 3)) for e in entities] == [("Ann", 0.9), ("Bob", 0.8)]
    assert [e.text for e in decode_entities(encoded, probs, labels, "token", 0.85)] == ["Ann"]


def test_adjacent_entities_of_one_type_stay_apart(wordpiece_tokenizer):
    labels = LabelSet.from_types(["PER"])
    encoded = TextEncoder(wordpiece_tokenizer).encode("Ann Bob")
    probs = _probs([[0, 1, 0], [0, 1, 0]])
    assert [e.text for e in decode_entities(encoded, probs, labels)] == ["Ann", "Bob"]


def test_word_aggregation_never_splits_a_word(wordpiece_tokenizer):
    labels = LabelSet.from_types(["LOC"])
    encoded = TextEncoder(wordpiece_tokenizer).encode("Washingtonian")
    assert len(encoded) > 1
    probs = np.tile(np.array([[0.0, 0.0, 1.0]], np.float32), (len(encoded), 1))
    probs[0] = [0.9, 0.1, 0.0]  # first piece says O, the rest say LOC
    token_level = decode_entities(encoded, probs, labels, "token")
    assert token_level and token_level[0].start > 0
    for aggregation in ("average", "max"):
        whole = decode_entities(encoded, probs, labels, aggregation)
        assert [(e.start, e.end) for e in whole] == [(0, 13)]
    assert decode_entities(encoded, probs, labels, "first") == []


def test_viterbi_keeps_to_valid_bio_where_lenient_breaks_a_name(wordpiece_tokenizer):
    labels = LabelSet.from_types(["LOC", "PER"])  # O, B-LOC, I-LOC, B-PER, I-PER
    encoded = TextEncoder(wordpiece_tokenizer).encode("Ann Lee met Bob")
    probs = _probs(
        [
            [0.1, 0.0, 0.0, 0.8, 0.1],  # ann: B-PER
            [0.1, 0.1, 0.5, 0.0, 0.3],  # lee: I-LOC is the likeliest tag, but follows B-PER
            [0.9, 0.05, 0.0, 0.05, 0.0],  # met: O
            [0.1, 0.0, 0.2, 0.7, 0.0],  # bob: B-PER
        ]
    )
    lenient = decode_entities(encoded, probs, labels, "token")
    assert [(e.text, e.label) for e in lenient] == [("Ann", "PER"), ("Lee", "LOC"), ("Bob", "PER")]
    viterbi = decode_entities(encoded, probs, labels, "token", decoding="viterbi")
    assert [(e.text, e.label) for e in viterbi] == [("Ann Lee", "PER"), ("Bob", "PER")]
    assert viterbi[0].score == pytest.approx((0.9 + 0.3) / 2)  # the chosen type's mass


def test_viterbi_paths_are_valid_bio_and_decode_gold_exactly(wordpiece_tokenizer):
    from nuner.core.decoding import viterbi_tags

    rng = np.random.default_rng(0)
    for _ in range(50):
        distribution = rng.dirichlet(np.ones(len(LABELS)), size=12)
        kinds, begins = viterbi_tags(distribution)
        for unit in range(12):
            if kinds[unit] and not begins[unit]:  # an inside tag continues its own type
                assert unit > 0 and kinds[unit - 1] == kinds[unit]
    text, spans = long_document(12)
    encoded = TextEncoder(wordpiece_tokenizer).encode(text)
    gold = tags_to_probs(align_spans(encoded, spans, LABELS).tag_ids, len(LABELS))
    entities = decode_entities(encoded, gold, LABELS, decoding="viterbi")
    assert [e.span for e in entities] == spans


def test_viterbi_join_makes_one_entity_of_a_name_said_b_b(wordpiece_tokenizer):
    labels = LabelSet.from_types(["LOC", "PER"])  # O, B-LOC, I-LOC, B-PER, I-PER
    encoded = TextEncoder(wordpiece_tokenizer).encode("Barack  Obama, Ann met Paris")
    begin_per, begin_loc = [0.1, 0.0, 0.0, 0.8, 0.1], [0.1, 0.8, 0.1, 0.0, 0.0]
    outside = [1.0, 0.0, 0.0, 0.0, 0.0]
    # one token a word: barack, obama, ",", ann, met, paris
    probs = _probs([begin_per, begin_per, outside, begin_per, outside, begin_loc])
    found = {
        policy: [
            (e.text, e.label) for e in decode_entities(encoded, probs, labels, decoding=policy)
        ]
        for policy in ("viterbi", "viterbi-join")
    }
    assert found["viterbi"] == [
        ("Barack", "PER"),
        ("Obama", "PER"),
        ("Ann", "PER"),
        ("Paris", "LOC"),
    ]
    # joined across a run of spaces, never across punctuation or another type
    assert found["viterbi-join"] == [("Barack  Obama", "PER"), ("Ann", "PER"), ("Paris", "LOC")]


def test_viterbi_join_makes_one_entity_of_words_with_nothing_between(wordpiece_tokenizer):
    labels = LabelSet.from_types(["LOC"])  # O, B-LOC, I-LOC
    encoded = TextEncoder(wordpiece_tokenizer).encode("the U.K. ,U")
    begin, outside = [0.1, 0.8, 0.1], [1.0, 0.0, 0.0]
    # one token a word: the, u, ".", k, ".", ",", u: io-style B on every entity word
    probs = _probs([outside, begin, begin, begin, begin, outside, begin])
    found = decode_entities(encoded, probs, labels, decoding="viterbi-join")
    assert [(e.text, e.label) for e in found] == [("U.K.", "LOC"), ("U", "LOC")]


def test_viterbi_join_makes_one_name_of_a_word_split_at_its_marks(wordpiece_tokenizer):
    labels = LabelSet.from_types(["LOC", "ORG", "PER"])  # O, B-/I-LOC, B-/I-ORG, B-/I-PER
    text = "the U.K. and AT&T, Ann-Bob. Ann. Paris"
    encoded = TextEncoder(wordpiece_tokenizer).encode(text)
    outside, loc = [1.0, 0, 0, 0, 0, 0, 0], [0.1, 0.8, 0.1, 0, 0, 0, 0]
    org, per = [0.1, 0, 0, 0.8, 0.1, 0, 0], [0.1, 0, 0, 0, 0, 0.8, 0.1]
    # one token a word: the u . k . and at & t , ann - bob . ann . paris
    tagged = [outside, loc, outside, loc, outside, outside, org, outside, org, outside]
    tagged += [per, outside, loc, outside, per, outside, loc]
    found = decode_entities(encoded, _probs(tagged), labels, decoding="viterbi-join")
    assert [(e.text, e.label) for e in found] == [
        ("U.K.", "LOC"),  # joined over its dots, the closing one kept
        ("AT&T", "ORG"),  # no closing "&": the comma stays out
        ("Ann", "PER"),  # another type behind the hyphen: not joined
        ("Bob", "LOC"),
        ("Ann", "PER"),  # a sentence's full stop is not the name's
        ("Paris", "LOC"),
    ]
    assert [text[e.start : e.end] for e in found] == [e.text for e in found]
    assert found[0].score == pytest.approx(0.9)  # the mean of its pieces' type mass
    plain = decode_entities(encoded, _probs(tagged), labels, decoding="viterbi")
    assert [e.text for e in plain][:4] == ["U", "K", "AT", "T"]


def test_io_targets_put_every_entity_token_on_its_begin_tag():
    from nuner.core.labels import IGNORE_INDEX, inside_as_begin

    labels = LabelSet.from_types(["LOC", "PER"])  # O, B-LOC, I-LOC, B-PER, I-PER
    tags = np.array([IGNORE_INDEX, 0, 3, 4, 4, 0, 1, 2, IGNORE_INDEX])
    io = inside_as_begin(tags)
    assert io.tolist() == [IGNORE_INDEX, 0, 3, 3, 3, 0, 1, 1, IGNORE_INDEX]
    assert {labels.tags[t] for t in io if t > 0} == {"B-LOC", "B-PER"}
