"""Concept (label) names as the concept encoder reads them: pre-training and
zero-shot labels at request time go through the same normalisation."""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")
MAX_CONCEPT_TOKENS = 16  # sub-words of a name the concept encoder reads (with specials)


def normalize_concept(name: str) -> str:
    return _SPACES.sub(" ", name).strip().lower()
