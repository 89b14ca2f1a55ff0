"""Raw input -> sentences: plain text (one document per line), a folder of
.txt files, or JSONL with a text field; split with pySBD (rule-based
sentence boundary disambiguation, Sadvilkar & Neumann 2020)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path


def documents(source: str | Path, text_field: str = "text") -> Iterator[str]:
    path = Path(source)
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                if file.suffix == ".jsonl":
                    try:
                        yield str(json.loads(line)[text_field])
                    except (json.JSONDecodeError, KeyError, TypeError) as error:
                        raise ValueError(f"{file}:{number}: no {text_field!r} ({error})") from None
                else:
                    yield line.rstrip("\n")


class SentenceSplitter:
    def __init__(self, language: str = "en") -> None:
        import pysbd

        self.segmenter = pysbd.Segmenter(language=language, clean=False, char_span=False)

    def __call__(self, document: str) -> list[str]:
        sentences = (" ".join(s.split()) for s in self.segmenter.segment(document))
        return [s for s in sentences if s]


def sentence_key(sentence: str) -> str:
    return hashlib.sha1(sentence.encode("utf-8")).hexdigest()
