"""Span <-> sub-word label alignment for WordPiece and byte-level BPE."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nuner.core.alignment import align_spans
from nuner.core.decoding import AGGREGATIONS, decode_entities, tags_to_probs
from nuner.core.encoding import TextEncoder, trim_offsets
from nuner.core.labels import LabelSet
from nuner.core.types import Span

LABELS = LabelSet.from_types(["LOC", "ORG", "PER"])

WORDS = st.sampled_from(
    [
        "New",
        "York",
        "café",
        "Zürich",
        "naïve",
        "RÉSUMÉ",
        "東京",
        "北京大学",
        "서울",
        "😀",
        "🚀🎉",
        "👍🏽",
        "U.S.",
        "don't",
        "e-mail",
        "x",
        "42",
        "3.14",
        "Ünïcödé",
        "ﬁne",
        "Ωmega",
        "(a)",
        "#tag",
        "@user",
        "http://x.io",
        "Obama's",
        "naïveté",
        "ß",
        "İstanbul",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", " \n ", "   ", "\t\t"])


@st.composite
def texts_with_word_spans(draw):
    """A text of words joined by varied whitespace; gold spans over runs of whole words."""
    words = draw(st.lists(WORDS, min_size=1, max_size=25))
    separators = draw(st.lists(SEPARATORS, min_size=len(words), max_size=len(words)))
    leading = draw(st.sampled_from(["", " ", "\n"]))
    text, offsets = leading, []
    for word, separator in zip(words, separators):
        offsets.append((len(text), len(text) + len(word)))
        text += word + separator
    spans, i = [], 0
    while i < len(words):
        length = draw(st.integers(0, 3))
        if length and i + length <= len(words):
            label = draw(st.sampled_from(LABELS.entity_types))
            spans.append(Span(offsets[i][0], offsets[i + length - 1][1], label))
            i += length + draw(st.integers(0, 1))  # adjacent entities happen too
        else:
            i += 1
    return text, spans


def all_tokenizers(wordpiece, bpe):
    return {"wordpiece": wordpiece, **{f"bpe[{k}]": t for k, t in bpe.items()}}


def round_trip(encoder, text, spans, aggregation):
    encoded = encoder.encode(text)
    aligned = align_spans(encoded, spans, LABELS)
    probs = tags_to_probs(aligned.tag_ids, len(LABELS))
    return aligned, decode_entities(encoded, probs, LABELS, aggregation)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=texts_with_word_spans(), aggregation=st.sampled_from(AGGREGATIONS))
def test_gold_word_spans_survive_encode_then_decode(
    wordpiece_tokenizer, bpe_tokenizers, sample, aggregation
):
    text, spans = sample
    for name, tokenizer in all_tokenizers(wordpiece_tokenizer, bpe_tokenizers).items():
        aligned, entities = round_trip(TextEncoder(tokenizer), text, spans, aggregation)
        assert aligned.report.aligned == len(spans), name
        assert [e.span for e in entities] == spans, name
        assert all(e.text == text[e.start : e.end] for e in entities)
        assert all(e.score == pytest.approx(1.0) for e in entities)


@st.composite
def texts_with_character_spans(draw):
    text = draw(
        st.text(alphabet=st.sampled_from(list("abcXYZ éü東京😀-.'\t\n")), min_size=1, max_size=40)
    )
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=6, unique=True)))
    spans = [Span(a, b, "ORG") for a, b in zip(cuts[::2], cuts[1::2]) if text[a:b].strip()]
    return text, spans


@settings(max_examples=200, deadline=None)
@given(sample=texts_with_character_spans())
def test_arbitrary_spans_decode_to_their_aligned_version(
    wordpiece_tokenizer, bpe_tokenizers, sample
):
    """Spans off sub-word boundaries are expanded, dropped or kept, and each case is counted;
    what the labels encode is exactly what decoding gives back."""
    text, spans = sample
    for name, tokenizer in all_tokenizers(wordpiece_tokenizer, bpe_tokenizers).items():
        aligned, entities = round_trip(TextEncoder(tokenizer), text, spans, "token")
        report = aligned.report
        assert report.aligned + report.expanded + report.dropped == len(spans), name
        assert len(aligned.spans) == report.aligned + report.expanded
        assert [e.span for e in entities] == list(aligned.spans), name
        for kept in aligned.spans:
            source = next(s for s in spans if s.start < kept.end and kept.start < s.end)
            start, end = trim_offsets(text, source.start, source.end)
            assert kept.start <= start and end <= kept.end, name


def test_misaligned_policy_expand_or_drop_is_counted(wordpiece_tokenizer):
    encoder = TextEncoder(wordpiece_tokenizer)
    encoded = encoder.encode("Washington is big")
    span = Span(1, 5, "LOC")  # "ashi": inside the first sub-word(s)
    expanded = align_spans(encoded, [span], LABELS, "expand")
    assert expanded.report.expanded == 1
    assert expanded.spans[0].start == 0 and expanded.spans[0].end >= 5
    dropped = align_spans(encoded, [span], LABELS, "drop")
    assert dropped.report.dropped_misaligned == 1 and dropped.spans == ()
    assert (dropped.tag_ids[encoded.has_content] == 0).all()


def test_spans_sharing_a_token_keep_the_first(wordpiece_tokenizer):
    encoded = TextEncoder(wordpiece_tokenizer).encode("Washington")
    aligned = align_spans(encoded, [Span(0, 2, "LOC"), Span(3, 6, "PER")], LABELS)
    assert aligned.report.dropped_overlap == 1 and len(aligned.spans) == 1


def test_span_over_characters_the_tokenizer_drops_is_counted(wordpiece_tokenizer):
    text = "a \u200b b"  # zero-width space: the uncased normaliser removes it
    aligned = align_spans(
        TextEncoder(wordpiece_tokenizer).encode(text), [Span(2, 3, "PER")], LABELS
    )
    assert aligned.report.dropped_no_tokens == 1


def test_wordpiece_offsets_point_into_the_original_cased_text(wordpiece_tokenizer):
    encoded = TextEncoder(wordpiece_tokenizer).encode("ÉCOLE  Zürich")
    pieces = [encoded.text[s:e] for s, e in encoded.offsets]
    assert "".join(pieces) == "ÉCOLEZürich"


@pytest.mark.parametrize(
    "key",
    [
        "prefix=True,trim=False",
        "prefix=False,trim=False",
        "prefix=True,trim=True",
        "prefix=False,trim=True",
    ],
)
def test_bpe_offsets_are_trimmed_of_leading_spaces(bpe_tokenizers, key):
    encoded = TextEncoder(bpe_tokenizers[key]).encode("Paris  and\n\nBerlin 😀")
    pieces = [encoded.text[s:e] for (s, e), c in zip(encoded.offsets, encoded.has_content) if c]
    assert all(p and not p[0].isspace() and not p[-1].isspace() for p in pieces)
    assert "Paris" in "".join(pieces) and "Berlin" in "".join(pieces)


def test_emoji_split_into_bytes_maps_every_piece_to_the_whole_character(bpe_tokenizers):
    encoder = TextEncoder(bpe_tokenizers["prefix=True,trim=True"])
    encoded = encoder.encode("🦜")
    content = encoded.offsets[encoded.has_content]
    assert len(content) > 1  # several byte-level pieces ...
    assert {tuple(o) for o in content.tolist()} == {(0, 1)}  # ... all covering the one character
    aligned = align_spans(encoded, [Span(0, 1, "ORG")], LABELS)
    tags = aligned.tag_ids[encoded.has_content]
    assert tags[0] == LABELS.begin_id("ORG")
    assert np.all(tags[1:] == LABELS.inside_id("ORG"))
