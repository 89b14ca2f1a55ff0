"""Reading and writing the shared JSONL span format and CoNLL/BIO files."""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nuner.core.errors import InvalidInput
from nuner.core.types import DatasetSplits, Example, Span, SpanError

SPLIT_NAMES = ("train", "dev", "test")


class DatasetError(InvalidInput, ValueError):
    """A dataset file that cannot be read; the message names file and line."""

    code = "invalid_dataset"


def example_from_dict(record: dict) -> Example:
    """Build and validate an Example from one JSON object of the shared format."""
    text = record.get("text")
    if not isinstance(text, str):
        raise SpanError("'text' must be a string")
    spans = []
    for raw in record.get("spans") or []:
        start, end, label = raw.get("start"), raw.get("end"), raw.get("label")
        if type(start) is not int or type(end) is not int:
            raise SpanError(f"span start/end must be integers, got {start!r}, {end!r}")
        if not isinstance(label, str):
            raise SpanError(f"span label must be a string, got {label!r}")
        spans.append(Span(start, end, label))
    example = Example.create(text, spans, record.get("tokens"))
    example.validate()
    return example


def example_to_dict(example: Example) -> dict:
    record: dict = {}
    if example.tokens is not None:
        record["tokens"] = list(example.tokens)
    record["text"] = example.text
    record["spans"] = [{"start": s.start, "end": s.end, "label": s.label} for s in example.spans]
    return record


def iter_jsonl(path: str | os.PathLike) -> Iterator[Example]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield example_from_dict(json.loads(line))
            except (json.JSONDecodeError, SpanError, AttributeError) as error:
                raise DatasetError(f"{path}:{number}: {error}") from error


def read_jsonl(path: str | os.PathLike) -> list[Example]:
    return list(iter_jsonl(path))


def write_jsonl(path: str | os.PathLike, examples: Iterable[Example]) -> int:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    lines = [json.dumps(example_to_dict(e), ensure_ascii=False) for e in examples]
    _atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


def _atomic_write_text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- CoNLL / BIO -----------------------------------------------------------


def tags_to_spans(tags: list[str], token_offsets: list[tuple[int, int]]) -> list[Span]:
    """Read IOB1, IOB2 and BIOES/IOBES tags into character spans.

    ``B-X`` always opens a span; ``I-X``/``E-X`` continue an open span of type X
    and open one otherwise; ``S-X`` is a single-token span; ``O`` closes.
    """
    spans: list[Span] = []
    open_label, open_start, open_end = None, 0, 0

    def close() -> None:
        nonlocal open_label
        if open_label is not None:
            spans.append(Span(open_start, open_end, open_label))
        open_label = None

    for tag, (start, end) in zip(tags, token_offsets, strict=True):
        prefix, _, label = tag.partition("-")
        if tag == "O" or not label:
            close()
        elif prefix in ("B", "S") or open_label != label:
            close()
            open_label, open_start, open_end = label, start, end
        else:
            open_end = end
        if prefix in ("S", "E"):
            close()
    close()
    return spans


def spans_to_tags(spans: Iterable[Span], token_offsets: list[tuple[int, int]]) -> list[str]:
    """IOB2 tags for tokens; raises SpanError for a span off token boundaries."""
    tags = ["O"] * len(token_offsets)
    starts = {start: i for i, (start, _) in enumerate(token_offsets)}
    ends = {end: i for i, (_, end) in enumerate(token_offsets)}
    for span in spans:
        if span.start not in starts or span.end not in ends:
            raise SpanError(f"span {span} does not fall on token boundaries")
        first, last = starts[span.start], ends[span.end]
        tags[first] = f"B-{span.label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{span.label}"
    return tags


def whitespace_tokens(text: str) -> list[tuple[int, int]]:
    """Offsets of the whitespace-separated tokens of ``text``."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def example_from_tokens(tokens: list[str], tags: list[str]) -> Example:
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return Example.create(" ".join(tokens), tags_to_spans(tags, offsets), tokens)


def read_conll(path: str | os.PathLike, tag_column: int = -1) -> list[Example]:
    """Read a CoNLL file: one token per line, tag in ``tag_column``, blank line between
    sentences, ``-DOCSTART-`` blocks dropped. Columns split on tabs, else whitespace."""
    examples, tokens, tags = [], [], []

    def flush() -> None:
        if tokens and tokens[0] != "-DOCSTART-":
            examples.append(example_from_tokens(tokens[:], tags[:]))
        tokens.clear()
        tags.clear()

    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if len(columns) < 2:
                raise DatasetError(f"{path}:{number}: expected token and tag columns")
            tokens.append(columns[0])
            tags.append(columns[tag_column])
    flush()
    return examples


def write_conll(path: str | os.PathLike, examples: Iterable[Example]) -> int:
    """Write ``token<TAB>IOB2-tag`` lines; tokens are ``example.tokens`` when they
    join to the text, else the whitespace-separated words of the text."""
    blocks = []
    for example in examples:
        offsets = _token_offsets(example)
        words = [example.text[s:e] for s, e in offsets]
        tags = spans_to_tags(example.spans, offsets)
        blocks.append("".join(f"{w}\t{t}\n" for w, t in zip(words, tags, strict=True)))
    _atomic_write_text(Path(path), "\n".join(blocks))
    return len(blocks)


def _token_offsets(example: Example) -> list[tuple[int, int]]:
    if example.tokens is not None and " ".join(example.tokens) == example.text:
        offsets, position = [], 0
        for token in example.tokens:
            offsets.append((position, position + len(token)))
            position += len(token) + 1
        return offsets
    return whitespace_tokens(example.text)


# --- dataset directories ---------------------------------------------------


def read_examples(path: str | os.PathLike) -> list[Example]:
    """Read a ``.jsonl`` file in the shared format or a CoNLL file (any other suffix)."""
    return read_jsonl(path) if str(path).endswith(".jsonl") else read_conll(path)


def load_dataset_dir(directory: str | os.PathLike) -> DatasetSplits:
    """Load ``train.jsonl`` and, where present, ``dev.jsonl`` and ``test.jsonl``."""
    root = Path(directory)
    if not (root / "train.jsonl").is_file():
        raise DatasetError(f"{root} has no train.jsonl")
    splits = {
        name: read_jsonl(root / f"{name}.jsonl") if (root / f"{name}.jsonl").is_file() else None
        for name in SPLIT_NAMES
    }
    labels = sorted({lab for split in splits.values() if split for e in split for lab in e.labels})
    return DatasetSplits(splits["train"] or [], splits["dev"], splits["test"], labels)


# Held-out train sentences that stand in for a dev split where a set has none.
SELECTION_SAMPLE = 1000


@dataclass(frozen=True)
class Selection:
    """Where settings are chosen (never test): the dev split, or where a set has none
    (the MIT corpora), a seeded sample of train held out of the pool that few-shot
    examples are drawn from."""

    name: str  # "dev" or "train sample 1000"
    examples: list[Example]
    pool: list[Example]


def selection_split(directory: str | os.PathLike) -> Selection:
    root = Path(directory)
    train = read_jsonl(root / "train.jsonl")
    if (root / "dev.jsonl").is_file():
        return Selection("dev", read_jsonl(root / "dev.jsonl"), train)
    held = set(random.Random(0).sample(range(len(train)), SELECTION_SAMPLE))
    return Selection(
        f"train sample {SELECTION_SAMPLE}",
        [e for i, e in enumerate(train) if i in held],
        [e for i, e in enumerate(train) if i not in held],
    )
