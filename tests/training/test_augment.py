from nuner.core.types import Example, Span
from nuner.training.augment import with_replaced_mentions


def _example(text: str, *mentions: tuple[str, str]) -> Example:
    spans = []
    for surface, label in mentions:
        start = text.index(surface)
        spans.append(Span(start, start + len(surface), label))
    return Example.create(text, spans)


EXAMPLES = [
    _example("Barack Obama flew to Paris 🇫🇷 today.", ("Barack Obama", "PER"), ("Paris", "LOC")),
    _example("東京 is where Ann lives.", ("東京", "LOC"), ("Ann", "PER")),
    _example("Nothing to see here."),
]


def test_variants_keep_context_and_swap_mentions_within_their_type() -> None:
    augmented = with_replaced_mentions(EXAMPLES, copies=3, seed=0)
    pool = {
        label: {e.text[s.start : s.end] for e in EXAMPLES for s in e.spans if s.label == label}
        for label in ("PER", "LOC")
    }
    assert augmented[:3] == EXAMPLES
    variants = augmented[3:]
    assert len(variants) == 3 * 2  # the sentence without mentions is not copied
    for variant in variants:
        variant.validate()
        assert [s.label for s in variant.spans] in (["PER", "LOC"], ["LOC", "PER"])
        for span in variant.spans:
            assert variant.text[span.start : span.end] in pool[span.label]
    contexts = {v.text.replace(v.text[v.spans[0].start : v.spans[0].end], "#", 1) for v in variants}
    assert any(" flew to " in c for c in contexts) and any(" is where " in c for c in contexts)


def test_mentions_do_move_and_draws_follow_the_seed() -> None:
    variants = with_replaced_mentions(EXAMPLES, copies=8, seed=1)[3:]
    first_mentions = {v.text[v.spans[0].start : v.spans[0].end] for v in variants[::2]}
    assert first_mentions == {"Barack Obama", "Ann"}  # 8 draws from two PER names
    assert with_replaced_mentions(EXAMPLES, 8, seed=1) == with_replaced_mentions(EXAMPLES, 8, 1)
    assert with_replaced_mentions(EXAMPLES, 8, seed=1) != with_replaced_mentions(EXAMPLES, 8, 2)


def test_no_copies_is_the_examples_unchanged() -> None:
    assert with_replaced_mentions(EXAMPLES, copies=0, seed=0) == EXAMPLES
