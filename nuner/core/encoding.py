"""Tokenise a text once and cut it into model windows, for any fast tokenizer.

The text is encoded once without special tokens, so offsets always index the
original text; windows of at most ``max_length`` tokens (special tokens
included) overlap by ``stride`` tokens and carry the global index of every
token, so that predictions can be merged back without losing anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from nuner.core.shapes import token_shapes


@dataclass(frozen=True)
class EncodedText:
    """Sub-word tokens of one text, with offsets trimmed of surrounding whitespace.

    ``has_content`` is False for tokens that cover only whitespace (byte-level
    BPE emits those for runs of spaces and newlines): they are neither trained
    on nor allowed to start or break an entity.
    """

    text: str
    ids: np.ndarray  # (n,) int64
    offsets: np.ndarray  # (n, 2) int64, trimmed
    word_ids: np.ndarray  # (n,) int64, -1 where the tokenizer gives none
    has_content: np.ndarray  # (n,) bool
    shapes: np.ndarray  # (n,) int64 word-shape ids of the original characters (nuner.core.shapes)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Window:
    """Model input for one slice of a text; ``token_index[j]`` is the global token
    index of position ``j`` or -1 for a special token."""

    text_index: int
    ids: np.ndarray
    token_index: np.ndarray
    shape_ids: np.ndarray


@dataclass(frozen=True)
class ModelInputs:
    """A padded batch of windows: what every backend (torch, ONNX) is fed."""

    input_ids: np.ndarray  # (batch, seq) int64
    attention_mask: np.ndarray  # (batch, seq) int64
    shape_ids: np.ndarray  # (batch, seq) int64, 0 on specials and padding

    def feeds(self, names: set[str]) -> dict[str, np.ndarray]:
        """The arrays a session declares as inputs (older graphs take no shapes)."""
        arrays = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "shape_ids": self.shape_ids,
        }
        return {name: array for name, array in arrays.items() if name in names}


def trim_offsets(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a token's character range to exclude leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class TextEncoder:
    """Wraps a ``tokenizers.Tokenizer`` (e.g. a bundle's tokenizer.json)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = 256, stride: int = 32) -> None:
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.prefix_ids, self.suffix_ids = self._special_template()
        self.max_length = max_length
        self.window_size = max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if not 0 <= stride < self.window_size:
            raise ValueError(f"stride must be in [0, {self.window_size}), got {stride}")
        self.stride = stride
        self.pad_id = self._pad_id()

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs: int) -> TextEncoder:
        return cls(Tokenizer.from_file(str(path)), **kwargs)

    def _special_template(self) -> tuple[list[int], list[int]]:
        """Special tokens the post-processor puts before and after one sequence."""
        encoding = self.tokenizer.encode("a", add_special_tokens=True)
        mask = encoding.special_tokens_mask
        content = [i for i, special in enumerate(mask) if not special]
        first, last = (content[0], content[-1]) if content else (len(mask), len(mask) - 1)
        return list(encoding.ids[:first]), list(encoding.ids[last + 1 :])

    def _pad_id(self) -> int:
        for token in ("[PAD]", "<pad>", "<|pad|>"):
            token_id = self.tokenizer.token_to_id(token)
            if token_id is not None:
                return token_id
        return 0

    def encode(self, text: str) -> EncodedText:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        offsets = np.array(
            [trim_offsets(text, s, e) for s, e in encoding.offsets], dtype=np.int64
        ).reshape(-1, 2)
        return EncodedText(
            text=text,
            ids=np.array(encoding.ids, dtype=np.int64),
            offsets=offsets,
            word_ids=np.array([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64),
            has_content=offsets[:, 1] > offsets[:, 0],
            shapes=token_shapes(text, offsets),
        )

    def window_starts(self, num_tokens: int) -> list[int]:
        """Window start positions: step ``window_size - stride``, last one flush with the end."""
        size = self.window_size
        if num_tokens <= size:
            return [0]
        step = size - self.stride
        starts = list(range(0, num_tokens - size, step))
        return [*starts, num_tokens - size]

    def windows(self, encoded: EncodedText, text_index: int = 0) -> list[Window]:
        prefix = np.array(self.prefix_ids, dtype=np.int64)
        suffix = np.array(self.suffix_ids, dtype=np.int64)
        specials_before = np.full(len(prefix), -1, dtype=np.int64)
        specials_after = np.full(len(suffix), -1, dtype=np.int64)
        no_shape_before = np.zeros(len(prefix), dtype=np.int64)
        no_shape_after = np.zeros(len(suffix), dtype=np.int64)
        result = []
        for start in self.window_starts(len(encoded)):
            stop = min(start + self.window_size, len(encoded))
            result.append(
                Window(
                    text_index=text_index,
                    ids=np.concatenate([prefix, encoded.ids[start:stop], suffix]),
                    token_index=np.concatenate(
                        [specials_before, np.arange(start, stop), specials_after]
                    ),
                    shape_ids=np.concatenate(
                        [no_shape_before, encoded.shapes[start:stop], no_shape_after]
                    ),
                )
            )
        return result


def pad_batch(windows: Sequence[Window], pad_id: int) -> ModelInputs:
    """Right-pad windows into one batch of model inputs."""
    input_ids, attention_mask = pad_batch_ids([w.ids for w in windows], pad_id)
    shape_ids, _ = pad_batch_ids([w.shape_ids for w in windows], 0)
    return ModelInputs(input_ids, attention_mask, shape_ids)


def pad_batch_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences into ``input_ids`` and ``attention_mask`` arrays."""
    width = max(len(ids) for ids in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask
