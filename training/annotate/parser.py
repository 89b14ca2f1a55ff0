"""What an LLM answered -> spans with character offsets.

LLMs return no offsets, so positions are recovered by exact string match.
Policy (counted in ``ParseStats``):

* case-sensitive match first; failing that, a case-insensitive one;
* a match must not start or end inside a word ("US" is not found in "USA");
* every such occurrence is labelled (an entity string names the same concept
  wherever it appears in one sentence); ``multi_occurrence`` counts entities
  found more than once;
* an entity not found is dropped (``not_found``);
* the same (start, end, concept) twice is kept once (``duplicates``);
* a sentence with the concept "concept" is dropped, as in the paper.

Lines may carry bullets, numbering, extra spaces, or only two fields
(no description); anything else (commentary, blank lines) is skipped and
counted as ``malformed``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from nuner.core.concepts import normalize_concept

_BULLET = re.compile(r"^\s*(?:[-*•·]+|\(?\d+[.)]|\d+\s*-)\s*")
_QUOTES = "\"'`“”‘’"


@dataclass
class ParseStats:
    lines: int = 0
    annotations: int = 0
    malformed: int = 0
    not_found: int = 0
    case_insensitive: int = 0
    multi_occurrence: int = 0
    duplicates: int = 0

    def add(self, other: ParseStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ParsedAnswer:
    spans: list[dict] = field(default_factory=list)
    stats: ParseStats = field(default_factory=ParseStats)
    concept_concept: bool = False  # the paper drops such sentences

    @property
    def concepts(self) -> Counter:
        return Counter(s["label"] for s in self.spans)


def parse_line(line: str) -> tuple[str, str, str | None] | None:
    """``entity <> concept <> description`` (or two fields); None if not such a line."""
    fields = [f.strip().strip(_QUOTES).strip() for f in _BULLET.sub("", line).split("<>")]
    if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
        return None
    description = fields[2] if len(fields) == 3 and fields[2] else None
    return fields[0], fields[1], description


def find_occurrences(sentence: str, entity: str) -> tuple[list[tuple[int, int]], bool]:
    """Word-bounded occurrences; the flag says the match needed case folding."""
    for flags, folded in ((0, False), (re.IGNORECASE, True)):
        pattern = re.compile(rf"(?<!\w){re.escape(entity)}(?!\w)", flags)
        found = [(m.start(), m.end()) for m in pattern.finditer(sentence)]
        if found:
            return found, folded
    return [], False


def parse_answer(sentence: str, answer: str) -> ParsedAnswer:
    parsed = ParsedAnswer()
    seen: set[tuple[int, int, str]] = set()
    for line in answer.splitlines():
        if not line.strip():
            continue
        parsed.stats.lines += 1
        fields = parse_line(line)
        if fields is None:
            parsed.stats.malformed += 1
            continue
        entity, concept_name, description = fields
        concept = normalize_concept(concept_name)
        if concept == "concept":
            parsed.concept_concept = True
        occurrences, folded = find_occurrences(sentence, entity)
        if not occurrences:
            parsed.stats.not_found += 1
            continue
        parsed.stats.case_insensitive += folded
        parsed.stats.multi_occurrence += len(occurrences) > 1
        for start, end in occurrences:
            if (start, end, concept) in seen:
                parsed.stats.duplicates += 1
                continue
            seen.add((start, end, concept))
            span = {"start": start, "end": end, "label": concept}
            if description:
                span["description"] = description
            parsed.spans.append(span)
            parsed.stats.annotations += 1
    parsed.spans.sort(key=lambda s: (s["start"], s["end"], s["label"]))
    return parsed
