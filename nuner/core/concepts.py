"""Concept (label) names as the concept encoder reads them: pre-training and
zero-shot labels at request time go through the same normalisation."""

from __future__ import annotations

import re
from collections.abc import Mapping

_SPACES = re.compile(r"\s+")
_IDENTIFIER_JOINS = re.compile(r"[_-]")  # Restaurant_Name, creative-work: words
MAX_CONCEPT_TOKENS = 16  # sub-words of a name the concept encoder reads (with specials)

# What the concept encoder reads for the tags of the CoNLL and OntoNotes schemes,
# which few write out: "PER" means nothing to an encoder pre-trained on names such
# as "person". A label outside this table, or with a description, reads as given.
STANDARD_TAG_NAMES = {
    "PER": "person",
    "LOC": "location",
    "ORG": "organization",
    "MISC": "miscellaneous",
    "GPE": "geopolitical entity",
    "NORP": "nationality, religious or political group",
    "FAC": "facility",
    "WORK_OF_ART": "work of art",
}


def normalize_concept(name: str) -> str:
    return _SPACES.sub(" ", name).strip().lower()


def concept_read(label: str, descriptions: Mapping[str, str] | None = None) -> str:
    """What the concept encoder reads for ``label`` when a tagger's head starts
    from the label names: its description as written, else its standard tag's name
    or the label itself, read as words."""
    description = (descriptions or {}).get(label)
    if description:
        return normalize_concept(description)
    return normalize_concept(_IDENTIFIER_JOINS.sub(" ", STANDARD_TAG_NAMES.get(label, label)))
