"""Word-shape ids of sub-word tokens, read from the original characters.

Uncased tokenizers (the default all-MiniLM-L6-v2 lower-cases) hand the model
"apple" for both the fruit and the company: capitalisation, the strongest cue
for names in edited text, is gone. The offsets still point at the text as
written, so a tagger can get it back as one small id per token (an embedding,
``nuner.training.model``). Computed from the text alone, the same way in
training and serving.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# id 0 is kept for tokens without characters: specials, padding, whitespace
SHAPES = ("none", "lower", "capitalised", "upper", "mixed", "digit", "symbol", "uncased")
NUM_SHAPES = len(SHAPES)
_ID = {name: index for index, name in enumerate(SHAPES)}


@lru_cache(maxsize=1 << 16)  # tokens repeat: a lookup in place of a scan
def shape_of(piece: str) -> int:
    """The shape id of one token's characters."""
    if not piece:
        return _ID["none"]
    if any(c.isdigit() for c in piece):
        return _ID["digit"]
    letters = [c for c in piece if c.isalpha()]
    if not letters:
        return _ID["symbol"]
    cased = [c for c in letters if c.isupper() or c.islower()]
    if not cased:
        return _ID["uncased"]  # CJK, Thai, ...: no case to read
    if all(c.islower() for c in cased):
        return _ID["lower"]
    if cased[0].isupper() and all(c.islower() for c in cased[1:]):
        return _ID["capitalised"]
    if all(c.isupper() for c in cased):
        return _ID["upper"]
    return _ID["mixed"]


def token_shapes(text: str, offsets: np.ndarray) -> np.ndarray:
    """``(n,)`` int64 shape ids for tokens at (trimmed) character ``offsets``."""
    return np.array([shape_of(text[start:end]) for start, end in offsets], dtype=np.int64)
